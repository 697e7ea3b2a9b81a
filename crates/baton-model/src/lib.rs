//! Plain types and formats shared by every baton crate: digests, bundle names, references,
//! `bundle.toml`, the parameter schema, the bundle config, the OCI documents, and the files of a
//! state repository (`baton.toml`, params, state and approval records, commit trailers).
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
mod fleet;
pub mod layout;
mod name;
pub mod oci;
mod params;
mod pipeline;
mod records;
mod reference;
pub mod schema;
mod trusted;
mod values;

pub use blobs::{BlobSource, SizedReader};
pub use bundle_file::{BundleFile, BundleFileError, BundleSection};
pub use config::{BundleConfig, Compressor, FileEntry, FileKind, LayerInfo, Source};
pub use digest::{Digest, DigestError, DigestWriter};
pub use fleet::{
    ExpectedTargets, OnVerifyFailure, RecordedVerification, TargetId, TargetIdError, VerifiedRule,
    VerifyCheck,
};
pub use layout::{Dir, StatePath};
pub use name::{BundleName, NameError, Version, VersionError};
pub use params::{ParamSchema, ParamSpec, ParamType, SchemaError, Violation};
pub use pipeline::{
    Duration, DurationError, EnvName, EnvNameError, Environment, EnvironmentSpec, Gates, Pipeline,
    PipelineError, PipelineFile, PipelineProblem, Principal, PrincipalError, RenderLimits, Target,
    Window, WindowError,
};
pub use records::{Action, ApprovalRecord, StateRecord, Trailers};
pub use reference::{Reference, ReferenceError, Selector, StoreLocation};
pub use trusted::{TrustedKey, TrustedKeysFile};
pub use values::{ConfinedFile, ParamValue, ParamValues, SecretRef, confine, is_clean_absolute};
