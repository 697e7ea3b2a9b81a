//! `drift` and one pass of the control loop: every pin of an environment against what its
//! target holds, through `baton-target`'s one reading of records and files.

use baton_model::{BundleName, Digest};
use baton_target::{Differences, DriftReport};
use baton_view::{ReportAction, TargetReport, View};
use serde::{Deserialize, Serialize};

use crate::{
    ApplyAction, ApplyError, ApplyOptions,
    apply::apply_one,
    job::{Job, jobs},
    report::{self, check_reporter},
    verify::Verification,
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
    /// What the target's checks found, when the pass applied or healed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// The report written into the environment's store this pass (with `--target-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Digest>,
    /// Why a report could not be written (the next pass writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_error: Option<String>,
}

/// One pass of the control loop: compare every pin of `env` with its applied record and
/// target; apply what differs; re-apply where the target drifted, unless `heal` is false; run
/// the target's checks after each apply; report what changed (with `options.reporter`).
pub fn reconcile(
    view: &View,
    env: &str,
    heal: bool,
    options: &ApplyOptions<'_>,
) -> Result<Vec<PassReport>, ApplyError> {
    check_reporter(view, view.environment(env)?, options)?;
    let mut reports = Vec::new();
    let mut store = None;
    let jobs = match jobs(view, env, None, options) {
        // An agent started before the environment's first promotion waits for it: an idle
        // pass, not a failure to back off from.
        Err(ApplyError::NothingPinned { env }) => {
            tracing::info!(%env, "nothing pinned yet: waiting for a first promotion");
            return Ok(reports);
        }
        jobs => jobs?,
    };
    for job in jobs {
        let report = drift_one(&job)?;
        let mut applied = None;
        let action = if report.is_clean() {
            ApplyAction::Unchanged
        } else if !report.never_applied && report.pinned && !heal {
            ApplyAction::Drift
        } else if !report.pinned && report::rolled_back_from_pin(&job) {
            ApplyAction::HeldBack
        } else {
            // What drift just hashed and found changed is not hashed again by the apply.
            let drifted = report.release.as_deref().filter(|_| report.pinned);
            let done = apply_one(&job, options, drifted)?;
            let action = done.action;
            applied = Some(done);
            action
        };
        let sent = match (&options.reporter, &applied, action) {
            (_, Some(applied), _) => report::send_applied(&job, options, &mut store, applied),
            (None, ..) => Ok(None),
            (Some(reporter), None, ApplyAction::Drift) if !report::reported_drift(&job) => {
                drift_report(&job, &reporter.target, options)
                    .and_then(|r| report::send(&job, options, &mut store, r))
            }
            (Some(_), ..) => report::send_pending(&job, options, &mut store),
        };
        let (sent, report_error) = match sent {
            Ok(sent) => (sent, None),
            Err(e) => {
                let shown = baton_view::error_chain(&e);
                tracing::warn!(env = %job.env.name, bundle = %job.pin.bundle, "the report could not be written; the next pass tries again: {shown}");
                (None, Some(shown))
            }
        };
        reports.push(PassReport {
            bundle: report.bundle,
            action,
            differences: report.differences,
            verification: applied.and_then(|a| a.verification),
            report: sent,
            report_error,
        });
    }
    Ok(reports)
}

/// The report of drift left alone: the applied record's digest, params and tree.
fn drift_report(
    job: &Job<'_>,
    target: &baton_model::TargetId,
    options: &ApplyOptions<'_>,
) -> Result<TargetReport, ApplyError> {
    let record = job.home.record()?.ok_or_else(|| {
        ApplyError::Io(std::io::Error::other("drift was found but the applied record is gone"))
    })?;
    let now = (options.clock)();
    Ok(TargetReport {
        environment: job.env.name.clone(),
        target: target.clone(),
        bundle: job.pin.bundle.clone(),
        digest: record.digest.clone(),
        params_digest: record.params_digest,
        tree_digest: record.tree_digest,
        action: ReportAction::Drifted,
        verification: None,
        checks: Vec::new(),
        running: record.digest,
        at: baton_target::record_time(now),
        written: now,
    })
}
