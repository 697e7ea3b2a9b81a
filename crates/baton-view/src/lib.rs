//! The read model: the state repository read at one commit, and the one judge of gates.
//!
//! Every operation stands on this crate and none reaches through another: the promoter reads
//! pins, params and approvals here before it writes; the applier reads the pin and params it
//! acts on; the auditor reads history and asks the same [`evaluate`] what the promoter asked.
//!
//! ```text
//! let view = View::open(StateRepo::discover(Path::new("."))?)?;
//! let env = view.environment("prod")?;
//! let params = view.checked_params(&env.name, &bundle, &config)?;   // parsed, checked, digest
//! let evidence = view.gate_evidence(env, &bundle, &digest, (&promoter, None), false)?;
//! let outcomes = evaluate(env, &bundle, &digest, &evidence, Timestamp::now());
//! let rows = status(&view, Timestamp::now(), None)?;
//! ```
#![warn(missing_docs)]

mod attestation;
mod error;
mod evidence;
mod gates;
pub mod judge;
mod params;
mod query;
mod report;
mod running;
mod trust;
mod view;

pub use attestation::{
    Claims, Descriptor, EvidenceProblem, PinEvidence, Summary, VERIFIER_ID, VSA_PREDICATE,
    check_vsa, resource_uri, statement as vsa_statement, verified_level,
};
pub use error::ViewError;
pub use evidence::GateStores;
pub use gates::{
    Evidence, GateName, GateOutcome, RecordedApproval, SignedEvidence, UpstreamEvidence, evaluate,
};
pub use params::{CheckedParams, ensure_in_store, load_config, params_digest};
pub use query::{
    BundleDiff, HistoryEntry, ParamDiff, PinSummary, ReportEntry, StatusRow, diff, history, status,
};
pub use report::{
    CheckOutcome, ReportAction, Reports, Standing, TARGET_ANNOTATION, TARGET_REPORT_PREDICATE,
    TEST_RESULT_PREDICATE, TargetReport, TestResult, VerifiedEvidence, check_report, standings,
    to_the_second,
};
pub use running::{RunState, Running, TargetRunning};
pub use trust::{TrustedKey, TrustedKeys};
pub use view::{
    PinEvent, PinFile, Signature, SignatureState, View, commit_time, error_chain, params_path,
    resolve_store, state_path,
};
