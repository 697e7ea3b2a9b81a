//! Stores hold bundles. This version has one kind, the OCI image layout store (`oci:PATH`): a
//! folder with one OCI image layout per bundle name, readable by skopeo and every OCI tool.
//!
//! ```text
//! let store = LayoutStore::new(".baton/store");
//! let mut blob = store.blob_writer(&name)?;          // stream bytes in, then:
//! let (digest, size) = blob.commit()?;                // fsync + rename to blobs/sha256/<hex>
//! store.put_manifest(&name, &manifest_bytes, Some("1.4.2"))?;
//! let digest = store.resolve(&reference)?;
//! ```
//!
//! Every write is crash-safe (temporary file, fsync, rename, fsync of the directory) and safe with
//! concurrent writers (`index.json` changes under an exclusive lock on `index.json.lock`).
#![warn(missing_docs)]

pub mod attached;
pub mod auth;
mod error;
pub mod evidence;
mod interrupt;
mod layout;
pub mod referrers;
mod registry;
mod store;

pub use error::StoreError;
pub use interrupt::{interrupt, interrupted, is_interrupted};
pub use layout::{BlobWriter, LayoutBlobs, LayoutStore, Listed, Stored};
pub use registry::{
    Progress, ProgressEvent, RegistryBlobs, RegistryOptions, RegistryStore, Timeouts, Trust,
};
pub use store::{CopyReport, Store, copy, copy_untagged};
