//! The applier: makes a target hold exactly what the state repository pins for an environment.
//!
//! `apply` fetches the pinned bundle into a content-addressed cache (an OCI layout; every blob
//! re-hashed on the way in, a damaged cached blob fetched again), unpacks it with the bundler's
//! safe unpack, renders the files matching its render globs with the environment's parameters,
//! and hands the release to the target: a `dir` target swaps its `current` link atomically, an
//! `exec` target runs its check and command in the rendered directory. Each target keeps an
//! applied record; `drift` re-hashes the target against it, `plan` shows what apply would change.
//!
//! ```text
//! let view = View::open(StateRepo::discover(Path::new("."))?)?;
//! let done = apply(&view, "staging", None, &options)?;
//! let reports = drift(&view, "staging", Some(&web), &options)?;
//! ```
#![warn(missing_docs)]

mod apply;
mod error;
mod exec;
mod fetch;
mod job;
mod plan;
mod reconcile;
mod render;
mod rendering;
mod report;
mod verify;

pub use apply::{Applied, ApplyAction, apply};
pub use baton_target::{AppliedRecord, Differences, DriftReport, FileHash, Tree};
pub use error::ApplyError;
pub use job::{ApplyOptions, Reporter};
pub use plan::{Plan, plan};
pub use reconcile::{PassReport, drift, reconcile};
pub use render::{EnvLookup, Resolved};
pub use rendering::{RenderReport, RenderedEntry, Rendering, publish, render};
pub use verify::Verification;
