//! The promoter: moves one bundle digest, unchanged, through the environments of a state
//! repository, behind gates that cannot be talked around. It only writes; what is pinned where
//! is read through `baton-view`.
//!
//! Every command reads the branch head once into a `View`, checks everything against that
//! commit, moves bytes with `baton_store::copy`, and writes one commit with compare-and-swap on
//! the branch; when another writer moved it meanwhile, it reads and checks again.
//!
//! ```text
//! let mut view = View::open(StateRepo::discover(Path::new("."))?)?;
//! let done = promote(&mut view, &PromoteRequest { bundle, to: "staging".into(), at, .. })?;
//! ```
#![warn(missing_docs)]

mod attest;
mod error;
mod init;
mod promote;
mod renders;

pub use error::{DoesNotRender, PromoteError};
pub use init::{InitStores, Initialised, init};
pub use promote::{
    Approval, ApproveRequest, CopySummary, PromoteRequest, Promotion, RollbackRequest, approve,
    promote, rollback,
};
