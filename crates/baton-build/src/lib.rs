//! Bundles into stores: `build` packs a descriptor into a store (a layout directly, a registry
//! through a temporary layout and `copy`), `export` writes one bundle as a tar of an OCI layout,
//! `import` brings one back. Each returns a typed report; the binary only prints it.
//!
//! ```text
//! let built = build(&BuildRequest { dir, store, allow_dirty: false, threads: 2, epoch: None,
//!                                   registry: &options }, &progress)?;
//! let exported = export(&reference, &file, &options)?;
//! ```
#![warn(missing_docs)]

mod build;
mod error;
mod evidence;
mod provenance;
mod publish;
mod reports;
mod signatures;
mod transfer;

pub use baton_store::evidence::{
    ATTESTATION_ARTIFACT_TYPE, DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, SignatureCheck,
    check_signatures,
};
pub use build::{BuildProgress, BuildReport, BuildRequest, build, list_some};
pub use error::BuildError;
pub use evidence::{AttestationCheck, EvidenceReport, evidence};
pub use provenance::PROVENANCE_PREDICATE;
pub use publish::{PublishError, PublishRequest, Published, publish};
pub use reports::{InspectReport, ListedBundle, UnpackReport, VerifyFinding, VerifyReport};
pub use signatures::{SignReport, sign};
pub use transfer::{CopyOutcome, ExportReport, export, import};
