//! The promoter: moves one bundle digest, unchanged, through the environments of a state
//! repository, behind gates that cannot be talked around, and answers what is pinned where.
//!
//! Every command reads the branch head once into a [`View`], checks everything against that
//! commit, moves bytes with `baton_store::copy`, and writes one commit with compare-and-swap on
//! the branch; when another writer moved it meanwhile, it reads and checks again.
//!
//! ```text
//! let mut view = View::open(StateRepo::discover(Path::new("."))?)?;
//! let done = promote(&mut view, &PromoteRequest { bundle, to: "staging".into(), .. })?;
//! let rows = status(&view)?;
//! ```
#![warn(missing_docs)]

mod context;
mod error;
mod gates;
mod init;
mod promote;
mod report;

pub use context::{
    PinEvent, SignatureState, View, approvals_dir, params_path, resolve_store, rfc3339, state_path,
};
pub use error::PromoteError;
pub use gates::{GateResult, window_holds};
pub use init::{Initialised, init};
pub use promote::{
    Approval, ApproveRequest, CopySummary, PromoteRequest, Promotion, RollbackRequest, approve,
    check_params, load_config, params_digest, promote, rollback,
};
pub use report::{
    BundleDiff, HistoryEntry, ParamDiff, PinSummary, StatusRow, diff, history, status,
};
