//! Why a target could not be read or changed, naming the file.

use std::path::PathBuf;

/// Why a target's files or records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Another apply holds the target's lock.
    #[error(
        "another apply is running on `{}` (it holds `{}`): wait for it to finish",
        target.display(),
        lock.display()
    )]
    Busy {
        /// The target's directory.
        target: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// An applied record exists but cannot be read as one.
    #[error(
        "the applied record `{}` cannot be read: remove it and apply again to rewrite it",
        path.display()
    )]
    BadRecord {
        /// The record.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A file of the target could not be written.
    #[error("cannot write the target `{}`", path.display())]
    Write {
        /// The target's directory.
        path: PathBuf,
        /// What failed (it names the file).
        #[source]
        source: std::io::Error,
    },
    /// A file of the target could not be read.
    #[error("cannot read the target `{}`", path.display())]
    Read {
        /// The target's directory.
        path: PathBuf,
        /// What failed (it names the file).
        #[source]
        source: std::io::Error,
    },
}
