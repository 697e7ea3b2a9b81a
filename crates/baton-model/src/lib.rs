//! Plain types and formats shared by every baton crate: digests, bundle names, references,
//! `bundle.toml`, the parameter schema, the bundle config and the OCI documents.
//!
//! This crate does no IO. Everything here parses, validates or serialises values held in memory.
//!
//! ```text
//! let reference: Reference = "oci:.baton/store/web:1.4.2".parse()?;
//! let digest: Digest = "sha256:…".parse()?;
//! let descriptor = BundleFile::from_toml(text)?;   // bundle.toml, unknown keys refused
//! ```
#![warn(missing_docs)]

mod blobs;
mod bundle_file;
mod config;
mod digest;
mod name;
pub mod oci;
mod params;
mod reference;
pub mod schema;

pub use blobs::BlobSource;
pub use bundle_file::{BundleFile, BundleFileError, BundleSection};
pub use config::{BundleConfig, Compressor, FileEntry, FileKind, LayerInfo, Source};
pub use digest::{Digest, DigestError, DigestWriter};
pub use name::{BundleName, NameError, Version, VersionError};
pub use params::{ParamSchema, ParamSpec, ParamType, SchemaError, Violation};
pub use reference::{Reference, ReferenceError, Selector, StoreLocation};
