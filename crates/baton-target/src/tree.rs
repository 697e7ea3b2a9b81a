//! The hash of a directory tree: every file and link by path, and one digest over the listing.
//! Records keep it, `drift` compares against it. Files whose rendering read a secret are hashed
//! under the target's key, never plainly.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::PermissionsExt,
    path::Path,
};

use baton_model::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::TargetKey;

/// What an entry of a tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A plain file.
    File,
    /// A file with an execute bit.
    Executable,
    /// A symbolic link.
    Link,
}

impl EntryKind {
    /// The word in records and in the tree digest's listing.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Executable => "executable",
            EntryKind::Link => "link",
        }
    }

    fn of_mode(executable: bool) -> EntryKind {
        if executable { EntryKind::Executable } else { EntryKind::File }
    }
}

/// One entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileHash {
    /// sha256 of the content (of the link target, for a link), as hex; for a `keyed` file,
    /// HMAC-SHA256 of the content under the target's key.
    pub sha256: String,
    /// What it is.
    pub kind: EntryKind,
    /// The file's rendering read a secret: its hash is keyed, and its content never shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyed: bool,
}

/// Every file and link below a directory, by `/`-separated relative path.
pub type Tree = BTreeMap<String, FileHash>;

/// Which files of a tree are hashed under the target's key: those whose rendering read a
/// secret. Every other file is hashed plainly.
#[derive(Clone, Debug)]
pub struct SecretFiles {
    key: Option<TargetKey>,
    paths: BTreeSet<String>,
}

impl SecretFiles {
    /// No file is secret.
    pub fn none() -> SecretFiles {
        SecretFiles { key: None, paths: BTreeSet::new() }
    }

    /// `paths` are secret, hashed under `key`.
    pub fn new(key: TargetKey, paths: BTreeSet<String>) -> SecretFiles {
        SecretFiles { key: Some(key), paths }
    }

    /// The files `tree` records as keyed, hashed under `key`; with no key (it was lost, or
    /// cannot be read here) under a new random one, so that they read as changed rather than
    /// as intact.
    pub fn of(tree: &Tree, key: Option<TargetKey>) -> std::io::Result<SecretFiles> {
        let paths: BTreeSet<String> =
            tree.iter().filter(|(_, f)| f.keyed).map(|(p, _)| p.clone()).collect();
        if paths.is_empty() {
            return Ok(SecretFiles::none());
        }
        let key = match key {
            Some(key) => key,
            None => TargetKey::random()?,
        };
        Ok(SecretFiles::new(key, paths))
    }

    /// True when `path` is secret.
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// The secret paths.
    pub fn paths(&self) -> &BTreeSet<String> {
        &self.paths
    }

    fn hash(&self, relative: &str, path: &Path, kind: EntryKind) -> std::io::Result<FileHash> {
        match &self.key {
            Some(key) if self.paths.contains(relative) => {
                Ok(FileHash { sha256: key.mac_file(path)?, kind, keyed: true })
            }
            _ => Ok(FileHash { sha256: hash_file(path)?, kind, keyed: false }),
        }
    }
}

/// Hashes every file and link below `root` (directories themselves are not entries); links are
/// read as links, never followed, and anything but a file, link or directory is an error.
pub fn hash_tree(root: &Path, secret: &SecretFiles) -> std::io::Result<Tree> {
    let mut tree = Tree::new();
    walk(root, "", secret, &mut tree)?;
    Ok(tree)
}

fn walk(dir: &Path, prefix: &str, secret: &SecretFiles, tree: &mut Tree) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &path, secret, tree)?;
        } else if kind.is_symlink() {
            let target = fs_err::read_link(entry.path())?;
            let digest = hex::encode(Sha256::digest(target.to_string_lossy().as_bytes()));
            tree.insert(path, FileHash { sha256: digest, kind: EntryKind::Link, keyed: false });
        } else {
            let executable = entry.metadata()?.permissions().mode() & 0o111 != 0;
            let hash = secret.hash(&path, &entry.path(), EntryKind::of_mode(executable))?;
            tree.insert(path, hash);
        }
    }
    Ok(())
}

/// The tree an unpacked bundle has after rendering, without reading it back: every file as the
/// bundle's verified index says, except the `rendered` ones, which are hashed from `root` (the
/// `secret` ones among them under the target's key).
pub fn tree_of_release(
    root: &Path,
    files: &[baton_model::FileEntry],
    rendered: &[String],
    secret: &SecretFiles,
) -> std::io::Result<Tree> {
    let rendered: std::collections::HashSet<&str> = rendered.iter().map(String::as_str).collect();
    let mut tree = Tree::new();
    for file in files {
        let entry = if rendered.contains(file.path.as_str()) {
            let path = root.join(&file.path);
            let executable = fs_err::metadata(&path)?.permissions().mode() & 0o111 != 0;
            secret.hash(&file.path, &path, EntryKind::of_mode(executable))?
        } else if file.kind == baton_model::FileKind::Symlink {
            let target = file.target.as_deref().unwrap_or_default();
            FileHash {
                sha256: hex::encode(Sha256::digest(target.as_bytes())),
                kind: EntryKind::Link,
                keyed: false,
            }
        } else {
            FileHash {
                sha256: file.sha256.as_ref().map(|d| d.hex().to_owned()).unwrap_or_default(),
                kind: EntryKind::of_mode(file.mode == "0755"),
                keyed: false,
            }
        };
        tree.insert(file.path.clone(), entry);
    }
    Ok(tree)
}

/// sha256 of a file, streamed, as hex.
fn hash_file(path: &Path) -> std::io::Result<String> {
    Ok(baton_fs::hash_file(path)?.hex().to_owned())
}

/// One digest over a tree's listing: `path NUL kind NUL sha256 LF`, sorted by path (a keyed
/// file's hash is its keyed one, so the digest reveals nothing checkable about its content).
pub fn tree_digest(tree: &Tree) -> Digest {
    let mut listing = Vec::new();
    for (path, file) in tree {
        listing.extend_from_slice(path.as_bytes());
        listing.push(0);
        listing.extend_from_slice(file.kind.as_str().as_bytes());
        listing.push(0);
        listing.extend_from_slice(file.sha256.as_bytes());
        listing.push(b'\n');
    }
    Digest::of(&listing)
}

/// How a tree differs from what was recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Differences {
    /// In both, with other content or kind.
    pub changed: Vec<String>,
    /// Only in the target.
    pub added: Vec<String>,
    /// Only in the record.
    pub removed: Vec<String>,
}

impl Differences {
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// Compares `found` against `expected`.
pub fn compare(expected: &Tree, found: &Tree) -> Differences {
    let mut differences = Differences::default();
    for (path, file) in expected {
        match found.get(path) {
            None => differences.removed.push(path.clone()),
            Some(other) if other != file => differences.changed.push(path.clone()),
            Some(_) => {}
        }
    }
    for path in found.keys() {
        if !expected.contains_key(path) {
            differences.added.push(path.clone());
        }
    }
    differences
}
