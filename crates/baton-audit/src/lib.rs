//! The auditor: walks the state repository's whole history and the environments' stores, with
//! read access only, and reports every place where what is pinned is not explained by a
//! well-formed baton promotion of bytes that passed the chain.
//!
//! ```text
//! let view = View::open(StateRepo::discover(Path::new("."))?)?;
//! let report = audit(&view, &Scope::default(), &registry_options)?;
//! for finding in &report.findings { … }   // exit 4 when there is any
//! ```
#![warn(missing_docs)]

mod audit;

pub use audit::{AuditError, Finding, Report, Scope, Severity, Verdict, audit, report_schema};
