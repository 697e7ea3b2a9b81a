//! Why a build, export or import failed, naming the directory, file, bundle or store.

use std::path::PathBuf;

use baton_model::{BundleName, Digest, StoreLocation};

/// Why a build, export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The descriptor could not be read.
    #[error("cannot build a bundle from `{}`", dir.display())]
    Descriptor {
        /// The descriptor directory.
        dir: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<baton_bundle::DescriptorError>,
    },
    /// The repository around the descriptor could not be read.
    #[error("cannot build a bundle from `{}`", dir.display())]
    Provenance {
        /// The descriptor directory.
        dir: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<baton_state::ProvenanceError>,
    },
    /// The descriptor's files differ from the commit.
    #[error(
        "cannot build a bundle from `{}`: its files differ from commit {commit} in {paths}\ncommit them, or pass --allow-dirty to build anyway (the bundle then records the tree as dirty)",
        dir.display()
    )]
    Dirty {
        /// The descriptor directory.
        dir: PathBuf,
        /// The commit, short.
        commit: String,
        /// Some of the paths that differ.
        paths: String,
    },
    /// Packing failed.
    #[error("cannot build a bundle from `{}`", dir.display())]
    Pack {
        /// The descriptor directory.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: Box<baton_bundle::BuildError>,
    },
    /// The store hashed the layer differently from the bundler: a bug.
    #[error("internal error: the store hashed the layer to {store}, the bundler to {bundler}")]
    LayerMismatch {
        /// The store's digest.
        store: Digest,
        /// The bundler's.
        bundler: Digest,
    },
    /// A store could not be opened, read or written.
    #[error("cannot use the store `{store}`")]
    Store {
        /// The store.
        store: String,
        /// What failed.
        #[source]
        source: Box<baton_store::StoreError>,
    },
    /// A push to a registry failed.
    #[error("cannot push {name}:{tag} to `{store}`")]
    Push {
        /// The bundle.
        name: BundleName,
        /// The tag.
        tag: String,
        /// The registry store.
        store: StoreLocation,
        /// What failed.
        #[source]
        source: Box<baton_store::StoreError>,
    },
    /// The bundle to export cannot be read.
    #[error("cannot export {reference}")]
    Export {
        /// The pinned reference.
        reference: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The archive to import is not one bundle's layout.
    #[error("cannot import `{}`", file.display())]
    Import {
        /// The archive.
        file: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The archive tags the bundle with something other than its version.
    #[error(
        "cannot import `{}`: its index tags bundle `{bundle}` as {tag:?}, but the bundle's version is `{version}`; baton tags a bundle only with its version: export it again with `baton bundle export`",
        file.display()
    )]
    ImportTag {
        /// The archive.
        file: PathBuf,
        /// The tag the archive's index gives.
        tag: String,
        /// The bundle.
        bundle: BundleName,
        /// Its version.
        version: String,
    },
    /// A file could not be written.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}
