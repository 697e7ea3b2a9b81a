//! Reading a descriptor: `bundle.toml`, then the sorted list of files it selects, with every
//! entry that cannot go into a bundle refused by path.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use baton_model::{BundleFile, FileKind, ParamSchema};
use globset::{GlobSet, GlobSetBuilder};

use crate::error::DescriptorError;

/// The file name of a descriptor's manifest.
pub const BUNDLE_TOML: &str = "bundle.toml";
/// The ignore file honoured in every directory of a descriptor (gitignore syntax).
pub const IGNORE_FILE: &str = ".batonignore";

/// A descriptor read from disk: its `bundle.toml` and the entries it selects, sorted by path.
#[derive(Debug)]
pub struct Descriptor {
    /// The descriptor's root directory.
    pub root: PathBuf,
    /// The parsed `bundle.toml`.
    pub file: BundleFile,
    /// Its checked parameter schema.
    pub params: ParamSchema,
    /// Every entry to pack, sorted by `path`.
    pub entries: Vec<Entry>,
}

/// One file or symlink to pack.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `/`-separated path relative to the root.
    pub path: String,
    /// File or symlink.
    pub kind: FileKind,
    /// True when any execute bit is set (files only).
    pub executable: bool,
    /// Size in bytes as listed (files only).
    pub size: u64,
    /// The link target (symlinks only).
    pub target: Option<String>,
}

impl Descriptor {
    /// The content bytes of every file, added up.
    pub fn content_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Reads `bundle.toml` in `root` and walks the files it selects.
    pub fn read(root: &Path) -> Result<Descriptor, DescriptorError> {
        Descriptor::read_skipping(root, None)
    }

    /// Like [`Descriptor::read`], leaving out the directory `skip` (relative to `root`): a store
    /// that lives inside the descriptor must not be packed into the bundles written to it.
    pub fn read_skipping(root: &Path, skip: Option<&Path>) -> Result<Descriptor, DescriptorError> {
        let manifest = root.join(BUNDLE_TOML);
        let text = match fs_err::read_to_string(&manifest) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DescriptorError::MissingBundleToml { path: manifest });
            }
            Err(e) => return Err(e.into()),
        };
        let (file, params) = BundleFile::from_toml(&text)
            .map_err(|source| DescriptorError::BundleToml { path: manifest, source })?;
        let include = glob_set(root, "include", &file.bundle.include)?;
        let exclude = glob_set(root, "exclude", &file.bundle.exclude)?;
        let render = glob_set(root, "render", &file.bundle.render)?;
        let entries = walk(root, &include, &exclude, skip.map(|rel| root.join(rel)))?;
        let problems: Vec<_> = entries
            .iter()
            .filter(|e| e.kind == FileKind::File && render.is_match(&e.path))
            .filter_map(|e| crate::template::check(root, &e.path))
            .collect();
        if !problems.is_empty() {
            return Err(DescriptorError::Templates { path: root.to_owned(), problems });
        }
        Ok(Descriptor { root: root.to_owned(), file, params, entries })
    }
}

fn glob_set(
    root: &Path,
    field: &'static str,
    globs: &[String],
) -> Result<GlobSet, DescriptorError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let parsed =
            globset::GlobBuilder::new(glob).literal_separator(true).build().map_err(|source| {
                DescriptorError::Glob {
                    path: root.join(BUNDLE_TOML),
                    field,
                    glob: glob.clone(),
                    source,
                }
            })?;
        builder.add(parsed);
    }
    Ok(builder.build().expect("holds because every glob was built above"))
}

fn walk(
    root: &Path,
    include: &GlobSet,
    exclude: &GlobSet,
    skip: Option<PathBuf>,
) -> Result<Vec<Entry>, DescriptorError> {
    let meta = fs_err::metadata(root)?;
    if !meta.is_dir() {
        return Err(DescriptorError::NotADirectory { path: root.to_owned() });
    }
    let canonical_root = fs_err::canonicalize(root)?;
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .follow_links(false)
        .filter_entry(move |e| e.file_name() != ".git" && skip.as_deref() != Some(e.path()))
        .build();
    let mut entries = Vec::new();
    for item in walker {
        let item = item.map_err(|e| walk_error(root, e))?;
        let full = item.path();
        let rel = full.strip_prefix(root).expect("holds because the walk starts at root");
        if rel.as_os_str().is_empty() {
            continue;
        }
        let Some(rel_text) = rel.to_str() else {
            return Err(DescriptorError::NonUtf8Path { path: full.to_owned() });
        };
        let rel_text = rel_text.replace(std::path::MAIN_SEPARATOR, "/");
        let file_type =
            item.file_type().expect("holds because only stdin entries lack a file type");
        if file_type.is_dir() {
            continue;
        }
        if !include.is_match(&rel_text) || exclude.is_match(&rel_text) {
            continue;
        }
        let meta = fs_err::symlink_metadata(full)?;
        if file_type.is_symlink() {
            let target = fs_err::read_link(full)?;
            let target_text = check_link(&canonical_root, full, &target)?;
            entries.push(Entry {
                path: rel_text,
                kind: FileKind::Symlink,
                executable: false,
                size: 0,
                target: Some(target_text),
            });
        } else if file_type.is_file() {
            entries.push(Entry {
                path: rel_text,
                kind: FileKind::File,
                executable: meta.permissions().mode() & 0o111 != 0,
                size: meta.len(),
                target: None,
            });
        } else {
            return Err(DescriptorError::SpecialFile { path: full.to_owned() });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// The walk's error with its path taken out (ignore's `WithPath` repeats the path in its text).
fn walk_error(root: &Path, error: ignore::Error) -> DescriptorError {
    match error {
        ignore::Error::WithPath { path, err } => DescriptorError::Walk { path, source: err },
        other => DescriptorError::Walk { path: root.to_owned(), source: Box::new(other) },
    }
}

/// Checks that the link at `full` resolves, through every link on the way, to something inside
/// `root` (canonical). A link to nothing is refused too: where it would point cannot be checked.
fn check_link(root: &Path, full: &Path, target: &Path) -> Result<String, DescriptorError> {
    let Some(text) = target.to_str() else {
        return Err(DescriptorError::NonUtf8Path { path: full.to_owned() });
    };
    let escapes =
        || DescriptorError::EscapingLink { path: full.to_owned(), target: target.to_owned() };
    if target.is_absolute() {
        return Err(escapes());
    }
    match fs_err::canonicalize(full) {
        Ok(resolved) if resolved.starts_with(root) => Ok(text.to_owned()),
        Ok(_) => Err(escapes()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(DescriptorError::DanglingLink { path: full.to_owned(), target: target.to_owned() })
        }
        Err(e) => Err(e.into()),
    }
}
