//! Provenance of a descriptor: the repository, commit and tree it was built from, and whether the
//! files that go into the bundle are exactly the committed ones.

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use baton_model::{FileKind, Source};
use gix::bstr::ByteSlice;

/// A file the bundle will hold, as the bundler listed it.
#[derive(Debug, Clone, Copy)]
pub struct WorkFile<'a> {
    /// Path relative to the descriptor, `/`-separated.
    pub path: &'a str,
    /// File or symlink.
    pub kind: FileKind,
    /// Any execute bit set (files).
    pub executable: bool,
    /// The link target (symlinks).
    pub target: Option<&'a str>,
}

/// Where a descriptor came from.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Repository URL, commit, tree and cleanliness, as recorded in the bundle.
    pub source: Source,
    /// The committer time of `HEAD`, seconds since the epoch.
    pub commit_time: i64,
    /// Paths (relative to the descriptor) whose work-tree state differs from the commit.
    pub dirty_paths: Vec<String>,
}

/// Why provenance could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// The repository could not be opened or read.
    #[error("cannot read git repository `{}`", repo.display())]
    Git {
        /// The repository's work tree.
        repo: PathBuf,
        /// What gix said.
        #[source]
        source: crate::GitError,
    },
    /// The repository has no commit yet.
    #[error("git repository `{}` has no commit yet: commit the descriptor, or build it from outside a git work tree", repo.display())]
    NoCommit {
        /// The repository's work tree.
        repo: PathBuf,
    },
    /// A file could not be read for hashing.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads the provenance of the descriptor at `dir`, comparing `files` with the commit at `HEAD`.
///
/// Returns `None` when `dir` is not inside a git work tree.
/// (Long because finding the repository, the commit, the tree and the dirty paths is one walk that
/// shares the opened repository.)
pub fn provenance(
    dir: &Path,
    files: &[WorkFile<'_>],
) -> Result<Option<Provenance>, ProvenanceError> {
    let Ok(repo) = gix::discover(dir) else {
        return Ok(None);
    };
    let Some(workdir) = repo.workdir().map(Path::to_owned) else {
        return Ok(None);
    };
    let git = |e: crate::GitError| ProvenanceError::Git { repo: workdir.clone(), source: e };
    let dir_abs = fs_err::canonicalize(dir)?;
    let root_abs = fs_err::canonicalize(&workdir)?;
    let rel = dir_abs.strip_prefix(&root_abs).map_err(|e| git(e.into()))?.to_owned();
    let rel_text = rel
        .to_str()
        .ok_or_else(|| git("the descriptor path is not UTF-8".into()))?
        .replace('\\', "/");

    let commit = match repo.head_commit() {
        Ok(commit) => commit,
        Err(_) if repo.head_id().is_err() => {
            return Err(ProvenanceError::NoCommit { repo: workdir });
        }
        Err(e) => return Err(git(e.into())),
    };
    let commit_time = commit.time().map_err(|e| git(e.into()))?.seconds;
    let root_tree = commit.tree().map_err(|e| git(e.into()))?;
    let tree_id = if rel.as_os_str().is_empty() {
        Some(root_tree.id)
    } else {
        root_tree
            .lookup_entry_by_path(&rel)
            .map_err(|e| git(e.into()))?
            .filter(|e| e.mode().is_tree())
            .map(|e| e.object_id())
    };
    let mut committed = BTreeMap::new();
    if let Some(id) = tree_id {
        collect_tree(&repo, id, "", &mut committed).map_err(|e| git(e.into()))?;
    }

    let mut dirty_paths = Vec::new();
    let hash_kind = repo.object_hash();
    for file in files {
        let Some((mode, id)) = committed.remove(file.path) else {
            dirty_paths.push(file.path.to_owned());
            continue;
        };
        let (want_mode, actual) = match file.kind {
            FileKind::Symlink => {
                let target = file.target.unwrap_or_default().as_bytes();
                (
                    Mode::Link,
                    gix::objs::compute_hash(hash_kind, gix::objs::Kind::Blob, target)
                        .map_err(|e| git(e.into()))?,
                )
            }
            FileKind::File => {
                let mode = if file.executable { Mode::Executable } else { Mode::File };
                (mode, blob_id(hash_kind, &dir.join(file.path)).map_err(|e| git(e.into()))?)
            }
        };
        if mode != want_mode || id != actual {
            dirty_paths.push(file.path.to_owned());
        }
    }
    // What is committed but not packed is either excluded (still on disk) or deleted (dirty).
    for path in committed.keys() {
        if fs_err::symlink_metadata(dir.join(path)).is_err() {
            dirty_paths.push(path.clone());
        }
    }
    dirty_paths.sort();

    let repository = repo
        .find_remote("origin")
        .ok()
        .and_then(|remote| remote.url(gix::remote::Direction::Fetch).cloned())
        .map(|url| strip_credentials(url).to_bstring().to_string());
    let source = Source {
        repository,
        commit: commit.id.to_string(),
        tree: tree_id.map_or_else(String::new, |id| id.to_string()),
        path: if rel_text.is_empty() { ".".to_owned() } else { rel_text },
        clean: dirty_paths.is_empty(),
    };
    Ok(Some(Provenance { source, commit_time, dirty_paths }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    File,
    Executable,
    Link,
    Other,
}

fn collect_tree(
    repo: &gix::Repository,
    id: gix::ObjectId,
    prefix: &str,
    out: &mut BTreeMap<String, (Mode, gix::ObjectId)>,
) -> Result<(), gix::Error> {
    let tree = repo.find_tree(id)?;
    for entry in tree.iter() {
        let entry = entry?;
        let name = entry.filename().to_str_lossy();
        let path = if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") };
        let mode = entry.mode();
        if mode.is_tree() {
            collect_tree(repo, entry.object_id(), &path, out)?;
        } else {
            let kind = if mode.is_link() {
                Mode::Link
            } else if mode.is_executable() {
                Mode::Executable
            } else if mode.is_blob() {
                Mode::File
            } else {
                Mode::Other
            };
            out.insert(path, (kind, entry.object_id()));
        }
    }
    Ok(())
}

/// The git blob id of a file's content, streamed.
fn blob_id(kind: gix::hash::Kind, path: &Path) -> Result<gix::ObjectId, gix::Error> {
    let mut file = fs_err::File::open(path).map_err(gix::Error::from_error)?;
    let size = file.metadata().map_err(gix::Error::from_error)?.len();
    let mut hasher = gix::hash::hasher(kind);
    hasher.update(&gix::objs::encode::loose_header(gix::objs::Kind::Blob, size));
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(gix::Error::from_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    hasher.try_finalize().map_err(gix::Error::from_error)
}

/// Removes what could be a secret from a remote URL: the password always, and the user name of
/// HTTP(S) URLs (where tokens go). An SSH user such as `git@` is kept.
fn strip_credentials(mut url: gix::Url) -> gix::Url {
    url.set_password(None);
    if matches!(url.scheme, gix::url::Scheme::Http | gix::url::Scheme::Https) {
        url.set_user(None);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped() {
        let check = |input: &str, expected: &str| {
            let url = gix::Url::from_bytes(input.into()).unwrap();
            assert_eq!(strip_credentials(url).to_bstring().to_string(), expected);
        };
        check(
            "https://user:token@example.com/team/infra.git",
            "https://example.com/team/infra.git",
        );
        check(
            "https://ghp_secret@example.com/team/infra.git",
            "https://example.com/team/infra.git",
        );
        check("git@example.com:team/infra.git", "git@example.com:team/infra.git");
        check("ssh://git:pw@example.com/team/infra.git", "ssh://git@example.com/team/infra.git");
    }
}
