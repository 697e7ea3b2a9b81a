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
    #[error("bundle `{name}` is not in store `{store}`")]
    UnknownBundle {
        /// The store, as written (`oci:PATH` or `HOST[:PORT]/PATH`).
        store: String,
        /// The bundle name.
        name: String,
    },
    /// The tag is not in the index.
    #[error("tag `{tag}` of bundle `{name}` is not in store `{store}`")]
    UnknownTag {
        /// The store, as written (`oci:PATH` or `HOST[:PORT]/PATH`).
        store: String,
        /// The bundle name.
        name: String,
        /// The tag.
        tag: String,
    },
    /// The blob or manifest is not in the layout.
    #[error("{digest} is not in store `{store}` (bundle `{name}`)")]
    UnknownDigest {
        /// The store, as written (`oci:PATH` or `HOST[:PORT]/PATH`).
        store: String,
        /// The bundle name.
        name: String,
        /// The digest.
        digest: Digest,
    },
    /// A blob's bytes do not hash to its name.
    #[error("blob {digest} in store `{store}` is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The store, as written (`oci:PATH` or `HOST[:PORT]/PATH`).
        store: String,
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
    #[error(
        "manifest {digest} names blob {missing}, which is not in store `{store}`: write the blobs first"
    )]
    MissingBlob {
        /// The store, as written (`oci:PATH` or `HOST[:PORT]/PATH`).
        store: String,
        /// The manifest.
        digest: Digest,
        /// The missing blob.
        missing: Digest,
    },
    /// A blob is larger than the caller accepts in memory.
    #[error(
        "blob {digest} in store `{store}` is {size} bytes, more than the {limit} expected for it"
    )]
    TooLarge {
        /// The store, as written (`oci:PATH` or `HOST[:PORT]/PATH`).
        store: String,
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A registry answered with an error; the message is what it answered.
    #[error("registry store `{store}`: {operation} failed: {message}")]
    Registry {
        /// The store, `HOST[:PORT]/PATH`.
        store: String,
        /// What baton was doing.
        operation: String,
        /// What the registry answered (never a credential).
        message: String,
    },
    /// Credentials could not be looked up.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// Any other IO error; the message names the path.
    #[error(transparent)]
    Io(#[from] io::Error),
}
