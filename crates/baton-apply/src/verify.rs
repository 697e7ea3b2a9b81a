//! The checks a target runs after every apply and heal (`verify` in baton.toml): each an argv
//! run by the exec runner (bounded time, its own process group, output masked and kept in the
//! release's log), in the release's directory with the `BATON_*` variables, retried as the
//! check says. A failed verification keeps the release, or puts the one before back where the
//! environment says `on_verify_failure = "rollback"`; either way it is reported.

use baton_model::{Digest, OnVerifyFailure, VerifyCheck};
use baton_target::{AppliedRecord, record_time};
use baton_view::{CheckOutcome, TestResult};
use serde::{Deserialize, Serialize};

use crate::{
    ApplyError, ApplyOptions, exec::run, fetch::resolve_cached, job::Job, render::Resolved,
};

/// What the verification after an apply found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Verification {
    /// PASSED when every check passed.
    pub result: TestResult,
    /// Each check, in the order baton.toml gives them.
    pub checks: Vec<CheckOutcome>,
    /// The digest the target went back to after the failure (`on_verify_failure =
    /// "rollback"`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<Digest>,
}

impl Verification {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.result == TestResult::Passed
    }
}

/// Runs the target's checks against the release of `record`, just made current; on failure,
/// rolls back to `previous` where the environment asks for it and that release is intact.
/// `None` when the target has no checks. `resolved` masks the checks' output (resolved from
/// the cache when the apply did not render).
pub(crate) fn verify_release(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    record: &AppliedRecord,
    previous: Option<&AppliedRecord>,
    resolved: Option<&Resolved>,
) -> Result<Option<Verification>, ApplyError> {
    let Some(target) = &job.env.target else { return Ok(None) };
    let checks = target.verify();
    if checks.is_empty() {
        return Ok(None);
    }
    let owned;
    let resolved = if let Some(resolved) = resolved {
        resolved
    } else {
        owned = resolve_cached(job, options)?;
        &owned
    };
    let dir = job.home.release(&record.release);
    let mut outcomes = Vec::new();
    for check in checks {
        let outcome = run_check(job, check, &dir, record, resolved)?;
        let failed = !outcome.passed;
        outcomes.push(outcome);
        if failed {
            break; // later checks of a target already failing say nothing more
        }
    }
    let passed = outcomes.iter().all(|o| o.passed) && outcomes.len() == checks.len();
    let result = if passed { TestResult::Passed } else { TestResult::Failed };
    let home = &job.home;
    let mut rolled_back_to = None;
    if !passed && job.env.on_verify_failure == OnVerifyFailure::Rollback && home.linked {
        match previous.filter(|p| p.release != record.release) {
            Some(previous) if home.release_matches(previous)? => {
                home.switch_current(&previous.release)?;
                let back = AppliedRecord { at: record_time((options.clock)()), ..previous.clone() };
                home.write_record(&back)?;
                tracing::warn!(bundle = %job.pin.bundle, digest = %record.digest, back_to = %previous.digest, "verification failed: rolled back to the release before");
                rolled_back_to = Some(previous.digest.clone());
            }
            Some(previous) => {
                tracing::warn!(bundle = %job.pin.bundle, release = %previous.release, "verification failed, and the release before has changed on disk: keeping the new one");
            }
            None => {
                tracing::warn!(bundle = %job.pin.bundle, "verification failed, and there is no release before to roll back to: keeping the new one");
            }
        }
    }
    Ok(Some(Verification { result, checks: outcomes, rolled_back_to }))
}

/// One check: attempts until one succeeds or the retries are spent, the pause between them.
/// A signal ends the retries (the check counts as failed).
fn run_check(
    job: &Job<'_>,
    check: &VerifyCheck,
    dir: &std::path::Path,
    record: &AppliedRecord,
    resolved: &Resolved,
) -> Result<CheckOutcome, ApplyError> {
    let name = resolved.mask(&check.display_name());
    let attempts = check.retries.saturating_add(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match run(job, "verify", &check.command, dir, record, check.attempt_limit(), resolved) {
            Ok(()) => {
                tracing::info!(bundle = %job.pin.bundle, check = %name, attempt, "verify passed");
                return Ok(CheckOutcome {
                    name,
                    passed: true,
                    attempts: attempt,
                    outcome: "succeeded".into(),
                });
            }
            Err(ApplyError::Command { outcome, .. }) => {
                tracing::warn!(bundle = %job.pin.bundle, check = %name, attempt, attempts, "verify {outcome}");
                last = outcome;
                if attempt < attempts {
                    if baton_store::is_interrupted() {
                        return Ok(CheckOutcome {
                            name,
                            passed: false,
                            attempts: attempt,
                            outcome: format!("{last}; interrupted by a signal"),
                        });
                    }
                    std::thread::sleep(check.pause());
                }
            }
            Err(other) => return Err(other),
        }
    }
    Ok(CheckOutcome { name, passed: false, attempts, outcome: last })
}
