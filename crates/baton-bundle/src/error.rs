//! The errors of reading descriptors, building, verifying and unpacking bundles. Each names the
//! file, field or digest at fault.

use std::{io, path::PathBuf};

use baton_model::BundleFileError;

/// A descriptor that cannot be packed.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// No `bundle.toml` at the root.
    #[error("no bundle.toml at `{}`: a descriptor is a directory with a bundle.toml at its root", path.display())]
    MissingBundleToml {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `bundle.toml` does not parse or contradicts itself.
    #[error("`{}` is not a valid bundle.toml", path.display())]
    BundleToml {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: BundleFileError,
    },
    /// A glob in `include`, `exclude` or `render` does not parse.
    #[error("in `{}`: `{field}` glob `{glob}` is not valid", path.display())]
    Glob {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The glob.
        glob: String,
        /// What is wrong.
        source: globset::Error,
    },
    /// Templates (files of `render`) that do not parse or use what the environment lacks.
    #[error("`{}`: {} template(s) cannot be rendered; fix them before building:\n{}", path.display(), problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Templates {
        /// The descriptor.
        path: PathBuf,
        /// Each problem, with its file and line.
        problems: Vec<crate::template::TemplateProblem>,
    },
    /// The descriptor path is not a directory.
    #[error("`{}` is not a directory: give the directory that holds bundle.toml", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A path that is not UTF-8.
    #[error("`{}` is not valid UTF-8: bundle paths must be UTF-8, rename it or exclude it", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// The walk failed (an unreadable directory or ignore file).
    #[error("cannot read `{}`", path.display())]
    Walk {
        /// The path.
        path: PathBuf,
        /// What the walker said.
        #[source]
        source: Box<ignore::Error>,
    },
    /// A symlink that leaves the descriptor.
    #[error(
        "symlink `{}` points to `{}`, outside the descriptor: bundles keep only links that stay inside; \
         copy the file in or exclude the link",
        path.display(),
        target.display()
    )]
    EscapingLink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A symlink that points to nothing.
    #[error("symlink `{}` points to `{}`, which does not exist: remove the link or exclude it", path.display(), target.display())]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A device, socket or FIFO.
    #[error("`{}` is a device file, socket or FIFO: bundles hold regular files and symlinks only; exclude it", path.display())]
    SpecialFile {
        /// The path.
        path: PathBuf,
    },
    /// Any other IO error; the message names the path.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A bundle that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The descriptor cannot be packed.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// A file changed size while it was packed.
    #[error("`{}` changed while it was packed (listed {listed} bytes, read {read}): build again once it is stable", path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// Its size when listed.
        listed: u64,
        /// What was read.
        read: u64,
    },
    /// A read or write failed; the message names the path.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The time given for the entries is not representable.
    #[error(
        "SOURCE_DATE_EPOCH {0} is out of range: give whole seconds since 1970-01-01 UTC, not before it"
    )]
    Time(i64),
}
