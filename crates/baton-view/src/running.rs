//! Desired and running: what each expected target of an environment last reported about the
//! bundle the environment pins, read from the reports in the environment's store (never from the
//! targets themselves). `status` shows it; the audit finds targets that are failed, drifted or
//! silent, and reports of the environment that do not hold.

use std::collections::BTreeMap;

use baton_model::{
    BundleName, Digest, EnvName, Environment, ExpectedTargets, StateRecord, TargetId,
};
use baton_store::Store;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{ReportAction, Reports, TargetReport, TestResult, View, ViewError};

/// Where one expected target stands on the pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// It reported the pin applied and its checks PASSED.
    Verified,
    /// It reported the pin applied; the target has no checks.
    Applied,
    /// It reported the pin's verification FAILED (and runs what `running` says).
    Failed,
    /// It reported drift it did not heal (`--no-heal`).
    Drifted,
    /// It has not reported the pin (with the pinned params) yet; `running` is what it last
    /// reported running, when it reported the digest before.
    Behind,
    /// It never reported this bundle's pin or the one before.
    Unreported,
}

impl RunState {
    /// The word in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Verified => "verified",
            RunState::Applied => "applied",
            RunState::Failed => "failed",
            RunState::Drifted => "drifted",
            RunState::Behind => "behind",
            RunState::Unreported => "unreported",
        }
    }

    /// Whether the target runs the pin as it should.
    pub fn converged(self) -> bool {
        matches!(self, RunState::Verified | RunState::Applied)
    }
}

/// What one expected target last reported.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetRunning {
    /// The target.
    pub target: TargetId,
    /// Where it stands.
    pub state: RunState,
    /// The digest it runs, as its last report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Digest>,
    /// Its last verification's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TestResult>,
    /// The report (its referrer manifest's digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Digest>,
    /// When it reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// Seconds since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    /// Whether it has not reported the pin though the pin is older than `silent_after`.
    pub silent: bool,
}

/// The running state of one pinned bundle in an environment that expects targets.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Running {
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The pinned (desired) digest.
    pub digest: Digest,
    /// When it was pinned.
    pub pinned_at: Timestamp,
    /// How many targets the environment expects.
    pub expected: usize,
    /// How many of them run the pin verified (or applied, without checks).
    pub converged: usize,
    /// Each target: the listed ones, or (for a count) each that reported.
    pub targets: Vec<TargetRunning>,
    /// For a count: how many expected targets never reported.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unnamed_missing: usize,
    /// Reports in the store that claim to be of this environment and do not hold, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    /// The threshold in seconds (`silent_after` in baton.toml).
    pub silent_after_seconds: i64,
    /// Whether the pin is older than that: an expected target that has not reported it is
    /// silent.
    pub overdue: bool,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl View {
    /// What the expected targets of `env` report about `pin`, from the reports in `store`,
    /// judged at `now`; `None` when `env` expects no targets.
    pub fn running(
        &self,
        env: &Environment,
        pin: &StateRecord,
        store: &Store,
        now: Timestamp,
    ) -> Result<Option<Running>, ViewError> {
        let Some(expected) = &env.targets else { return Ok(None) };
        let tree = self.snapshot.tree;
        let here = (&env.name, &pin.bundle, &pin.digest);
        let current = self.target_reports(store, here, tree)?;
        // Where a target has not reported the pin, what it reported of the digest before (a
        // digest the store no longer holds has no reports to say so).
        let before = match &pin.previous {
            Some(previous) if *previous != pin.digest => self
                .target_reports(store, (&env.name, &pin.bundle, previous), tree)
                .unwrap_or_default(),
            _ => Reports::default(),
        };
        let has_checks = env.target.as_ref().is_some_and(|t| !t.verify().is_empty());
        let overdue = now.as_second() - pin.at.as_second() > env.silent_after;
        let on_pin = latest_by_target(&current, Some(&pin.params_digest), now);
        let on_digest = latest_by_target(&current, None, now);
        let earlier = latest_by_target(&before, None, now);
        let mut named: Vec<TargetId> = match expected {
            ExpectedTargets::Ids(ids) => ids.clone(),
            ExpectedTargets::Count(_) => {
                let mut seen: Vec<TargetId> =
                    on_digest.keys().chain(earlier.keys()).cloned().collect();
                seen.sort();
                seen.dedup();
                seen
            }
        };
        named.sort();
        let mut targets = Vec::new();
        for target in named {
            let standing =
                match (on_pin.get(&target), on_digest.get(&target).or(earlier.get(&target))) {
                    (Some(found), _) => Some((state_of(found.1, &pin.digest, has_checks), *found)),
                    (None, Some(found)) => Some((RunState::Behind, *found)),
                    (None, None) => None,
                };
            let state = standing.map_or(RunState::Unreported, |(state, _)| state);
            let report = standing.map(|(_, found)| found);
            targets.push(TargetRunning {
                silent: overdue && matches!(state, RunState::Behind | RunState::Unreported),
                state,
                running: report.map(|(_, r)| r.running.clone()),
                result: report.and_then(|(_, r)| r.verification),
                report: report.map(|(d, _)| d.clone()),
                at: report.map(|(_, r)| r.at),
                age_seconds: report.map(|(_, r)| now.as_second() - r.at.as_second()),
                target,
            });
        }
        let unnamed_missing = match expected {
            ExpectedTargets::Count(n) => (*n as usize).saturating_sub(targets.len()),
            ExpectedTargets::Ids(_) => 0,
        };
        let mut invalid: Vec<String> = current
            .invalid
            .iter()
            .map(|(digest, target, why)| {
                let named = target.as_deref().map(|t| format!(" (`{t}`)")).unwrap_or_default();
                format!("report {}{named}: {why}", digest.short())
            })
            .collect();
        invalid.extend(current.valid.iter().filter(|(_, r)| r.at > now).map(|(digest, r)| {
            format!(
                "report {} (`{}`): it is dated {}, after now ({now}): a forged time or a clock ahead; it does not count",
                digest.short(),
                r.target,
                r.at
            )
        }));
        Ok(Some(Running {
            environment: env.name.clone(),
            bundle: pin.bundle.clone(),
            digest: pin.digest.clone(),
            pinned_at: pin.at,
            expected: expected.len(),
            converged: targets.iter().filter(|t| t.state.converged()).count(),
            targets,
            unnamed_missing,
            invalid,
            silent_after_seconds: env.silent_after,
            overdue,
        }))
    }
}

/// Each target's newest valid report in `reports` (rendered with `params`, when given), of
/// those dated no later than `now`.
fn latest_by_target<'a>(
    reports: &'a Reports,
    params: Option<&Digest>,
    now: Timestamp,
) -> BTreeMap<TargetId, (&'a Digest, &'a TargetReport)> {
    let mut latest = BTreeMap::new();
    // Oldest first: the last one standing is the newest.
    for (digest, report) in &reports.valid {
        if report.at <= now && params.is_none_or(|p| *p == report.params_digest) {
            latest.insert(report.target.clone(), (digest, report));
        }
    }
    latest
}

/// Where a target stands on `pin` from its newest report of it.
fn state_of(report: &TargetReport, pin: &Digest, has_checks: bool) -> RunState {
    if report.action == ReportAction::Drifted {
        RunState::Drifted
    } else if report.verification == Some(TestResult::Failed) || report.running != *pin {
        RunState::Failed
    } else if report.verification == Some(TestResult::Passed) {
        RunState::Verified
    } else if has_checks {
        // Applied, and the checks baton.toml now asks for never ran on it.
        RunState::Behind
    } else {
        RunState::Applied
    }
}
