//! What a target holds, read and written without a state repository: it takes a pin and a
//! directory. The applier writes releases and records through it; `drift`, the agent and the
//! auditor read them back through the same code.
//!
//! ```text
//! let home = Home::of(&target, repo_root, &applied_dir, &env, &bundle);
//! let report = drift(&home, &pin)?;            // record vs pin, files vs record
//! let tree = hash_tree(&home.applied_tree(&record), &home.secret_files(&record)?)?;
//! ```
#![warn(missing_docs)]

mod drift;
mod error;
mod home;
mod key;
mod record;
mod tree;

pub use drift::{DriftReport, drift};
pub use error::TargetError;
pub use home::Home;
pub use key::TargetKey;
pub use record::{AppliedRecord, Outcome, read_record, record_time, write_record};
pub use tree::{
    Differences, EntryKind, FileHash, SecretFiles, Tree, compare, hash_tree, tree_digest,
    tree_of_release,
};

#[cfg(test)]
mod tests;
