//! The bundler: packs a descriptor into a deterministic, content-hashed bundle, and reads bundles
//! back (verification and safe unpacking).
//!
//! ```text
//! let descriptor = Descriptor::read(Path::new("examples/web"))?;
//! let (built, layer_file) = build(&descriptor, &context, layer_file)?;   // the layer streams out
//! let findings = verify_layer(layer_reader, built.layer(), &built.config, Limits::STANDARD)?;
//! unpack(layer_reader, built.layer(), &built.config, Path::new("out"), Limits::STANDARD)?;
//! ```
//!
//! This crate knows nothing of stores or git: the caller hands it provenance and a writer for
//! the layer, and reads blobs for it.
#![warn(missing_docs)]

pub mod archive;
mod build;
mod descriptor;
mod error;
pub mod gzip;
mod layer;
mod open;
pub mod rendered;
mod tarball;
pub mod template;

pub use build::{BuildContext, Built, build};
pub use descriptor::{BUNDLE_TOML, Descriptor, Entry, IGNORE_FILE};
pub use error::{BuildError, DescriptorError};
pub use layer::{
    Finding, Limits, TEMPLATE_SOURCE_LIMIT, UnpackError, read_templates, unpack, verify_layer,
};
pub use open::{CONFIG_LIMIT, MANIFEST_LIMIT, OpenError, Opened, open_bundle, verify_bundle};

pub use baton_model::BlobSource;
