//! Everything baton reads from or writes to git; the only crate that depends on gix.
//!
//! For now it answers one question for the bundler: where does a descriptor come from?
//!
//! ```text
//! let found = provenance(Path::new("examples/web"), &files)?;   // None outside a git work tree
//! if let Some(p) = found { p.source.commit; p.source.clean; p.commit_time; p.dirty_paths; }
//! ```
#![warn(missing_docs)]

mod provenance;
mod repo;
mod signing;

pub use gix::ObjectId;
pub use provenance::{Provenance, ProvenanceError, WorkFile, provenance};
pub use repo::{
    CommitInfo, FileChange, GitAccess, GitError, GitToken, Identity, ReflogEntry, Signer, Snapshot,
    StateError, StateRepo, Synced, Upstream, without_credentials,
};
pub use signing::{
    AllowedSigners, SignatureCheck, SigningError, SigningKey, evidence_public, principal_matches,
};
