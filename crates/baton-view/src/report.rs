//! What a target says back: after each apply, heal and verification (and when drift is left
//! alone), a target writes a report, an in-toto Statement about the bundle digest, into its
//! environment's store as a referrer of the bundle, signed with the target's own key.
//!
//! A report with a verification uses the in-toto Test Result predicate
//! (`https://in-toto.io/attestation/test-result/v0.1`: `result` PASSED or FAILED, the checks'
//! names in `passedTests` / `failedTests`); one without (an apply with no checks, a heal, drift
//! left alone) uses baton's own `https://baton.dev/target-report/v1`, since no standard
//! predicate says "deployed" (ECOSYSTEM.md §4). Both carry the same `configuration`: resource
//! descriptors for the target (environment, id, action, time, what it runs now), the params
//! file and the rendered tree, so one reader reads both.
//!
//! [`check_report`] is the one check of a report, asked by the promoter's `verified` gate, the
//! audit, `status` and the applier's admission (through [`crate::View::pin_evidence`]).

use std::collections::BTreeMap;

use baton_model::{BundleName, Digest, EnvName, ExpectedTargets, RecordedVerification, TargetId};
use baton_state::AllowedSigners;
use baton_store::{
    Store,
    evidence::{ATTESTATION_ARTIFACT_TYPE, Attestation, ENVELOPE_LIMIT, PREDICATE_TYPE_ANNOTATION},
    referrers,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{View, ViewError, view::error_chain};

/// The in-toto Test Result predicate: a report with a verification.
pub const TEST_RESULT_PREDICATE: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// baton's predicate of a report without one.
pub const TARGET_REPORT_PREDICATE: &str = "https://baton.dev/target-report/v1";
/// The annotation of a report's referrer manifest naming `ENV/ID`, so that a reader can pass
/// over other targets' reports without reading them (what counts is the signed statement).
pub const TARGET_ANNOTATION: &str = "dev.baton.target";

/// What the target did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReportAction {
    /// It applied the digest (a new release, or an earlier one swapped back).
    Applied,
    /// It held the digest, had drifted, and was rendered again.
    Healed,
    /// It holds the digest and has drifted; it was left alone (`--no-heal`).
    Drifted,
}

impl ReportAction {
    /// The word in reports and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportAction::Applied => "applied",
            ReportAction::Healed => "healed",
            ReportAction::Drifted => "drifted",
        }
    }
}

/// A verification's result, as the Test Result predicate writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TestResult {
    /// Every check passed.
    Passed,
    /// A check failed.
    Failed,
}

impl TestResult {
    /// The word the predicate writes: `PASSED` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Passed => "PASSED",
            TestResult::Failed => "FAILED",
        }
    }
}

/// One check of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckOutcome {
    /// The check's name (from baton.toml).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// How many attempts it took.
    pub attempts: u32,
    /// How the last attempt ended (`succeeded`, `failed (exit status: 7)`, …).
    pub outcome: String,
}

/// One report of one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetReport {
    /// The environment the target belongs to.
    pub environment: EnvName,
    /// The target.
    pub target: TargetId,
    /// The bundle.
    pub bundle: BundleName,
    /// The digest the report is about.
    pub digest: Digest,
    /// The params digest the target rendered with.
    pub params_digest: Digest,
    /// The digest of the rendered tree (secret files under the target's key, never plainly).
    pub tree_digest: Digest,
    /// What the target did.
    pub action: ReportAction,
    /// The verification's result, when the target has checks and ran them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<TestResult>,
    /// Each check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckOutcome>,
    /// What the target runs after this report: the digest, or the one it rolled back to.
    pub running: Digest,
    /// When, to the second (truncated): the time gates, soaks and pins count with, as they
    /// count commit times.
    pub at: Timestamp,
    /// When, as precisely as the target's clock says: orders a target's reports made within one
    /// second (an apply, then drift found at once). The statement's `time`.
    pub written: Timestamp,
}

impl TargetReport {
    /// The predicate type of its statement.
    pub fn predicate_type(&self) -> &'static str {
        if self.verification.is_some() { TEST_RESULT_PREDICATE } else { TARGET_REPORT_PREDICATE }
    }

    /// `ENV/ID`, the value of [`TARGET_ANNOTATION`].
    pub fn annotation(&self) -> String {
        format!("{}/{}", self.environment, self.target)
    }

    /// Whether its verification passed.
    pub fn passed(&self) -> bool {
        self.verification == Some(TestResult::Passed)
    }

    /// The in-toto Statement of the report.
    pub fn statement(&self) -> serde_json::Value {
        let mut target = serde_json::Map::new();
        target.insert("environment".into(), json!(self.environment));
        target.insert("target".into(), json!(self.target));
        target.insert("action".into(), json!(self.action));
        target.insert("time".into(), json!(self.written.to_string()));
        target.insert("running".into(), json!(self.running));
        if !self.checks.is_empty() {
            target.insert("checks".into(), json!(self.checks));
        }
        let configuration = json!([
            {
                "name": "target",
                "uri": format!("baton:target/{}/{}", self.environment, self.target),
                "annotations": target,
            },
            {
                "name": "params",
                "uri": format!("git:{}", crate::params_path(&self.environment, &self.bundle)),
                "digest": { "sha256": self.params_digest.hex() },
            },
            {
                "name": "rendered",
                "uri": format!("baton:rendered/{}/{}", self.environment, self.bundle),
                "digest": { "sha256": self.tree_digest.hex() },
            },
        ]);
        let predicate = match self.verification {
            Some(result) => {
                let names = |passed: bool| -> Vec<&str> {
                    self.checks
                        .iter()
                        .filter(|c| c.passed == passed)
                        .map(|c| c.name.as_str())
                        .collect()
                };
                json!({
                    "result": result,
                    "configuration": configuration,
                    "passedTests": names(true),
                    "warnedTests": [],
                    "failedTests": names(false),
                })
            }
            None => json!({ "configuration": configuration }),
        };
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{ "name": self.bundle.to_string(), "digest": { "sha256": self.digest.hex() } }],
            "predicateType": self.predicate_type(),
            "predicate": predicate,
        })
    }

    /// Reads a report back from its statement (which [`check_report`] has found to be one).
    fn from_statement(statement: &serde_json::Value) -> Result<TargetReport, String> {
        let predicate = &statement["predicate"];
        let configuration =
            predicate["configuration"].as_array().ok_or("it has no configuration")?;
        let named = |name: &str| configuration.iter().find(|d| d["name"].as_str() == Some(name));
        let target = named("target").ok_or("it names no target")?;
        let sha256 = |name: &str| -> Result<Digest, String> {
            let hex = named(name).and_then(|d| d["digest"]["sha256"].as_str()).unwrap_or_default();
            format!("sha256:{hex}")
                .parse()
                .map_err(|_| format!("its `{name}` has no sha256 digest"))
        };
        let subject = &statement["subject"][0];
        let field = |value: &serde_json::Value, what: &str| -> Result<String, String> {
            value.as_str().map(str::to_owned).ok_or_else(|| format!("it has no {what}"))
        };
        let annotations = &target["annotations"];
        let written: Timestamp = field(&annotations["time"], "time")?
            .parse()
            .map_err(|e| format!("its time is not valid: {e}"))?;
        let verification = match statement["predicateType"].as_str() {
            Some(TEST_RESULT_PREDICATE) => Some(parse(&predicate["result"], "result")?),
            _ => None,
        };
        let checks = match &annotations["checks"] {
            serde_json::Value::Null => Vec::new(),
            checks => parse(checks, "checks")?,
        };
        Ok(TargetReport {
            environment: parse(&annotations["environment"], "environment")?,
            target: parse(&annotations["target"], "target id")?,
            bundle: parse(&subject["name"], "subject name")?,
            digest: format!("sha256:{}", field(&subject["digest"]["sha256"], "subject digest")?)
                .parse()
                .map_err(|_| "its subject digest is not valid".to_owned())?,
            params_digest: sha256("params")?,
            tree_digest: sha256("rendered")?,
            action: parse(&annotations["action"], "action")?,
            verification,
            checks,
            running: parse(&annotations["running"], "running digest")?,
            at: to_the_second(written),
            written,
        })
    }
}

/// `at` truncated to the second, as reports are counted (never rounded up past the moment).
pub fn to_the_second(at: Timestamp) -> Timestamp {
    let second =
        jiff::TimestampRound::new().smallest(jiff::Unit::Second).mode(jiff::RoundMode::Trunc);
    at.round(second).unwrap_or(at)
}

/// A field of a report's statement, parsed.
fn parse<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    what: &str,
) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("its {what} is not valid: {e}"))
}

/// The report `attestation` holds, if it is one of a target of `env` about `digest` of
/// `bundle`, signed where `signers` requires signatures by a key listed for that target's
/// principal (`ID@ENV.target`) at the report's time. The one check of a report.
pub fn check_report(
    attestation: &Attestation,
    (env, bundle, digest): (&EnvName, &BundleName, &Digest),
    signers: Option<&AllowedSigners>,
) -> Result<TargetReport, String> {
    match attestation.predicate_type() {
        Some(TEST_RESULT_PREDICATE | TARGET_REPORT_PREDICATE) => {}
        other => {
            return Err(format!(
                "its predicate type is {}, not a target's report",
                other.unwrap_or("missing")
            ));
        }
    }
    if !attestation.is_about(digest) {
        return Err(format!("it is about another digest than {}", digest.short()));
    }
    let report = TargetReport::from_statement(&attestation.statement)?;
    if report.bundle != *bundle {
        return Err(format!("it is about bundle `{}`, not `{bundle}`", report.bundle));
    }
    if report.environment != *env {
        return Err(format!(
            "it is a report of `{}/{}`, not of a target of `{env}`",
            report.environment, report.target
        ));
    }
    if let Some(signers) = signers {
        let principal = report.target.principal(env);
        let keys = signers.evidence_keys_for(&principal, report.at.as_second());
        if attestation.verified_by(&keys).is_empty() {
            let declared: Vec<&str> =
                attestation.envelope.signatures.iter().map(|s| s.keyid.as_str()).collect();
            return Err(format!(
                "it is not signed by a key listed for `{principal}` in .baton/allowed_signers at {} (it declares {})",
                report.at,
                if declared.is_empty() { "no signature".to_owned() } else { declared.join(", ") }
            ));
        }
    }
    Ok(report)
}

/// The reports of one digest in one store, checked.
#[derive(Clone, Debug, Default)]
pub struct Reports {
    /// Reports that hold, with their manifest digests, oldest first.
    pub valid: Vec<(Digest, TargetReport)>,
    /// Reports that claim to be of this environment (or cannot say) and do not hold: manifest
    /// digest, the target they name, why.
    pub invalid: Vec<(Digest, Option<String>, String)>,
    /// How many reports of other environments' targets the store holds (carried with the
    /// bundle from upstream; they do not count here).
    pub others: usize,
}

impl View {
    /// Every report of `digest` of `bundle` by a target of `env` in `store`, checked with
    /// `.baton/allowed_signers` as it stands at `tree` (signatures are required where it exists).
    pub fn target_reports(
        &self,
        store: &Store,
        (env, bundle, digest): (&EnvName, &BundleName, &Digest),
        tree: baton_state::ObjectId,
    ) -> Result<Reports, ViewError> {
        let signers = self.allowed_signers_in(tree)?;
        let mut reports = Reports::default();
        let listed = referrers::list_referrers(store, bundle, digest)?;
        let ours = format!("{env}/");
        let wanted: Vec<_> = listed
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(ATTESTATION_ARTIFACT_TYPE))
            .filter(|d| {
                matches!(
                    d.annotations.get(PREDICATE_TYPE_ANNOTATION).map(String::as_str),
                    Some(TEST_RESULT_PREDICATE | TARGET_REPORT_PREDICATE)
                )
            })
            .filter(|d| match d.annotations.get(TARGET_ANNOTATION) {
                Some(target) if !target.starts_with(&ours) => {
                    reports.others += 1;
                    false
                }
                _ => true,
            })
            .collect();
        let read = referrers::read_artifacts(store, bundle, &wanted, ENVELOPE_LIMIT);
        for (descriptor, artifact) in wanted.iter().zip(read) {
            let named = descriptor.annotations.get(TARGET_ANNOTATION).cloned();
            let checked = match artifact {
                Ok((manifest, layers)) => {
                    baton_store::evidence::parse_attestation(manifest, &layers)
                        .and_then(|a| check_report(&a, (env, bundle, digest), signers.as_ref()))
                }
                Err(e) => Err(format!("it cannot be read: {}", error_chain(&e))),
            };
            match checked {
                Ok(report) => reports.valid.push((descriptor.digest.clone(), report)),
                Err(why) => reports.invalid.push((descriptor.digest.clone(), named, why)),
            }
        }
        reports.valid.sort_by(|a, b| a.1.written.cmp(&b.1.written).then_with(|| a.0.cmp(&b.0)));
        Ok(reports)
    }
}

/// Where one target stands on a digest, from its reports.
#[derive(Clone, Debug)]
pub struct Standing<'a> {
    /// Its newest report.
    pub latest: &'a TargetReport,
    /// The report that began its current run of passed verifications, and its manifest digest:
    /// the first PASSED after the last FAILED (none when the newest verification failed).
    pub verified_since: Option<(&'a Digest, &'a TargetReport)>,
}

/// Each target's standing on the digest of `reports`, for reports rendered with
/// `params_digest` and dated no later than `at`; with why each other report is passed over.
pub fn standings<'a>(
    reports: &'a Reports,
    params_digest: &Digest,
    at: Timestamp,
) -> (BTreeMap<&'a TargetId, Standing<'a>>, Vec<String>) {
    let mut standings: BTreeMap<&TargetId, Standing<'_>> = BTreeMap::new();
    let mut passed_over = Vec::new();
    for (digest, report) in &reports.valid {
        if report.at > at {
            passed_over.push(format!(
                "`{}`'s report {} is dated {}, after {at}",
                report.target,
                digest.short(),
                report.at
            ));
            continue;
        }
        if report.params_digest != *params_digest {
            passed_over.push(format!(
                "`{}`'s report {} is for params {}, not the pinned {}",
                report.target,
                digest.short(),
                report.params_digest.short(),
                params_digest.short()
            ));
            continue;
        }
        let standing = standings
            .entry(&report.target)
            .or_insert(Standing { latest: report, verified_since: None });
        standing.latest = report;
        match report.verification {
            Some(TestResult::Passed) if standing.verified_since.is_none() => {
                standing.verified_since = Some((digest, report));
            }
            Some(TestResult::Failed) => standing.verified_since = None,
            _ => {}
        }
    }
    for (digest, target, why) in &reports.invalid {
        passed_over.push(format!(
            "report {}{}: {why}",
            digest.short(),
            target.as_deref().map(|t| format!(" (`{t}`)")).unwrap_or_default()
        ));
    }
    (standings, passed_over)
}

/// What the `verified` gate looks at: the upstream's expected targets and the verifications
/// that may count, as the promoter read them from the upstream's store or as the pin records
/// them.
#[derive(Clone, Debug, Default)]
pub struct VerifiedEvidence {
    /// The targets the upstream expects, as its `baton.toml` says at the promotion.
    pub expected: Option<ExpectedTargets>,
    /// Each target's standing verification: the report that began its current run of passes.
    pub verifications: Vec<RecordedVerification>,
    /// Why other reports do not count (the promoter's detail; targets whose newest
    /// verification failed are named here too).
    pub passed_over: Vec<String>,
}

impl VerifiedEvidence {
    /// The verifications that count at `at`, earliest first, one per target: by a target the
    /// upstream expects, dated no later than `at`. With why each other one does not count.
    pub fn counted(
        &self,
        up: &EnvName,
        at: Timestamp,
    ) -> (Vec<&RecordedVerification>, Vec<String>) {
        let mut notes = Vec::new();
        let mut counted: Vec<&RecordedVerification> = Vec::new();
        let Some(expected) = &self.expected else { return (counted, notes) };
        for verification in &self.verifications {
            if !expected.admits(&verification.target) {
                notes.push(format!("`{}` is not a target `{up}` expects", verification.target));
            } else if verification.at > at {
                notes.push(format!(
                    "`{}` verified at {}, after the promotion",
                    verification.target, verification.at
                ));
            } else if !counted.iter().any(|c| c.target == verification.target) {
                counted.push(verification);
            }
        }
        counted.sort_by_key(|v| v.at);
        (counted, notes)
    }
}

impl View {
    /// The promoter's evidence for `verified`: the reports of `digest` by the targets of `up`
    /// in `store`, judged against the upstream pin's `params_digest` at `at`.
    pub fn verified_evidence(
        &self,
        store: &Store,
        (up, bundle, digest): (&EnvName, &BundleName, &Digest),
        params_digest: &Digest,
        at: Timestamp,
    ) -> Result<VerifiedEvidence, ViewError> {
        let expected = self.environment(up.as_str())?.targets.clone();
        let reports = self.target_reports(store, (up, bundle, digest), self.snapshot.tree)?;
        let (standings, mut passed_over) = standings(&reports, params_digest, at);
        let mut verifications = Vec::new();
        for (target, standing) in standings {
            match standing.verified_since {
                Some((report, since)) => verifications.push(RecordedVerification {
                    target: target.clone(),
                    report: report.clone(),
                    at: since.at,
                }),
                None if standing.latest.verification == Some(TestResult::Failed) => passed_over
                    .push(format!(
                        "`{target}` verified {} FAILED at {}",
                        digest.short(),
                        standing.latest.at
                    )),
                None => {}
            }
        }
        Ok(VerifiedEvidence { expected, verifications, passed_over })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn to_the_second_truncates() {
        let at: jiff::Timestamp = "2026-12-03T14:21:40.847384977Z".parse().unwrap();
        assert_eq!(super::to_the_second(at).to_string(), "2026-12-03T14:21:40Z");
    }
}
