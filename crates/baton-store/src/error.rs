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
    /// The store path does not exist (`bundle list`: nothing was ever stored there).
    #[error("store `oci:{}` does not exist", path.display())]
    NoStore {
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
    /// A layout file (an index or a manifest) is not JSON of the expected shape.
    #[error("`{}` is not a valid OCI {what}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// `index` or `image manifest`.
        what: &'static str,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A blob file's size differs from what its manifest says.
    #[error("blob {digest} at `{}` is {found} bytes, the manifest says {expected}: the store is damaged", path.display())]
    WrongSize {
        /// The file.
        path: PathBuf,
        /// The blob.
        digest: Digest,
        /// Its size on disk.
        found: u64,
        /// Its size in the manifest.
        expected: u64,
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
    /// A registry answered with an error; the message is what it answered, with the causes
    /// oci-client gives flattened into it once (its errors print their source in their message
    /// and return it again as `source()`, so keeping the chain would print each cause twice).
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

impl StoreError {
    /// What the user can run next to see what the store holds or what is damaged in it, when
    /// baton knows.
    pub fn next_step(&self) -> Option<String> {
        match self {
            StoreError::UnknownBundle { store, .. }
            | StoreError::UnknownTag { store, .. }
            | StoreError::UnknownDigest { store, .. } => {
                Some(format!("`baton bundle list --store {store}` lists what the store holds"))
            }
            StoreError::Corrupt { store, digest, .. } => Some(format!(
                "`baton bundle verify` on the bundles of `{store}` names every damaged blob; copy the bundle holding {digest} into the store again"
            )),
            StoreError::Malformed { .. } | StoreError::WrongSize { .. } => Some(
                "`baton bundle verify STORE/NAME@DIGEST` names every damaged part; copy the bundle into the store again".to_owned(),
            ),
            StoreError::NoStore { path } => Some(format!(
                "check the path (a relative one is read from here), or put a bundle there first: `baton bundle build DIR --store oci:{}`",
                path.display()
            )),
            StoreError::MissingBlob { .. } => Some(
                "copy whole bundles with `baton bundle copy`, which writes the blobs before the manifest".to_owned(),
            ),
            // distribution's answer to plain HTTP on its TLS port: a loopback registry is
            // spoken to over HTTP unless a CA is given for it.
            StoreError::Registry { store, message, .. }
                if message.contains("HTTP request to an HTTPS server") =>
            {
                Some(format!(
                    "the registry of `{store}` speaks HTTPS: give its CA with `--registry-ca FILE` (or put it in `~/.config/containers/certs.d/HOST:PORT/ca.crt`)"
                ))
            }
            _ => None,
        }
    }
}
