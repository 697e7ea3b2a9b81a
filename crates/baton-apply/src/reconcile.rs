//! `drift` and one pass of the control loop: every pin of an environment against what its
//! target holds, through `baton-target`'s one reading of records and files.

use baton_model::BundleName;
use baton_target::{Differences, DriftReport};
use baton_view::View;
use serde::{Deserialize, Serialize};

use crate::{
    ApplyAction, ApplyError, ApplyOptions,
    apply::apply_one,
    job::{Job, jobs},
};

/// Re-hashes the targets of `env` (or one bundle) against their records; fetches nothing.
pub fn drift(
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<DriftReport>, ApplyError> {
    jobs(view, env, bundle, options)?.iter().map(drift_one).collect()
}

fn drift_one(job: &Job<'_>) -> Result<DriftReport, ApplyError> {
    Ok(baton_target::drift(&job.home, &job.pin)?)
}

/// What one reconcile pass did for one bundle.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PassReport {
    /// The bundle.
    pub bundle: BundleName,
    /// What was done.
    pub action: ApplyAction,
    /// What drift was found before acting.
    pub differences: Differences,
}

/// One pass of the control loop: compare every pin of `env` with its applied record and
/// target; apply what differs; re-apply where the target drifted, unless `heal` is false.
pub fn reconcile(
    view: &View,
    env: &str,
    heal: bool,
    options: &ApplyOptions<'_>,
) -> Result<Vec<PassReport>, ApplyError> {
    let mut reports = Vec::new();
    for job in jobs(view, env, None, options)? {
        let report = drift_one(&job)?;
        let action = if report.is_clean() {
            ApplyAction::Unchanged
        } else if !report.never_applied && report.pinned && !heal {
            ApplyAction::Drift
        } else {
            // What drift just hashed and found changed is not hashed again by the apply.
            let drifted = report.release.as_deref().filter(|_| report.pinned);
            apply_one(&job, options, drifted)?.action
        };
        reports.push(PassReport { bundle: report.bundle, action, differences: report.differences });
    }
    Ok(reports)
}
