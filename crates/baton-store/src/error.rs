//! The errors of stores; each names the store, the bundle, the tag or the digest.

use std::{io, path::PathBuf};

use baton_model::Digest;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store path exists and is not a directory.
    #[error("store `oci:{}` is a file, not a directory: give a directory for the OCI layouts", path.display())]
    NotADirectory {
        /// The store path.
        path: PathBuf,
    },
    /// No layout for this bundle name.
    #[error("bundle `{name}` is not in store `oci:{}`", store.display())]
    UnknownBundle {
        /// The store path.
        store: PathBuf,
        /// The bundle name.
        name: String,
    },
    /// The tag is not in the index.
    #[error("tag `{tag}` of bundle `{name}` is not in store `oci:{}`", store.display())]
    UnknownTag {
        /// The store path.
        store: PathBuf,
        /// The bundle name.
        name: String,
        /// The tag.
        tag: String,
    },
    /// The blob or manifest is not in the layout.
    #[error("{digest} is not in store `oci:{}` (bundle `{name}`)", store.display())]
    UnknownDigest {
        /// The store path.
        store: PathBuf,
        /// The bundle name.
        name: String,
        /// The digest.
        digest: Digest,
    },
    /// A blob's bytes do not hash to its name.
    #[error("blob {digest} in store `oci:{}` is corrupt: its bytes hash to {actual}", store.display())]
    Corrupt {
        /// The store path.
        store: PathBuf,
        /// The digest it is stored under.
        digest: Digest,
        /// What its bytes hash to.
        actual: Digest,
    },
    /// A layout file is not valid JSON of the expected shape.
    #[error("`{}` is not a valid OCI layout file: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A manifest names blobs the store does not hold.
    #[error("manifest {digest} names blob {missing}, which is not in store `oci:{}`: write the blobs first", store.display())]
    MissingBlob {
        /// The store path.
        store: PathBuf,
        /// The manifest.
        digest: Digest,
        /// The missing blob.
        missing: Digest,
    },
    /// A blob is larger than the caller accepts in memory.
    #[error("blob {digest} in store `oci:{}` is {size} bytes, more than the {limit} expected for it", store.display())]
    TooLarge {
        /// The store path.
        store: PathBuf,
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Any other IO error; the message names the path.
    #[error(transparent)]
    Io(#[from] io::Error),
}
