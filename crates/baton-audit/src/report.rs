//! What the audit reports: findings, the chain of pin changes as evidence, and a verdict per
//! current pin. The JSON form is `baton audit --output json`; its schema is committed in
//! `schemas/audit-report.schema.json`.

use baton_model::{Action, BundleName, Digest, EnvName};
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Recorded and allowed, or outside what the audit can reach, but always reported
    /// (break-glass, a target not reachable from here).
    Notice,
    /// The history, a store or a target is not what baton would have made.
    Error,
}

/// One thing the audit cannot explain.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// A short name of the check: `hand-edit`, `trailers`, `state-file`, `approval`,
    /// `signature`, `chain`, `break-glass`, `gate-soak`, `gate-approvals`, `gate-window`,
    /// `params`, `store`, `tag`, `rewrite`, `target`, `drift`.
    pub check: String,
    /// The environment, when one is concerned.
    pub environment: Option<EnvName>,
    /// The bundle, when one is concerned.
    pub bundle: Option<BundleName>,
    /// The commit, when one is concerned.
    pub commit: Option<String>,
    /// What was expected.
    pub expected: String,
    /// What was found.
    pub found: String,
}

/// The verdict on one pin.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The digest pinned now.
    pub digest: Digest,
    /// Its version.
    pub version: String,
    /// How many error findings concern this environment and bundle.
    pub findings: usize,
}

/// One approval, as the audit weighed it for a promotion.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ApprovalEvidence {
    /// Who approved.
    pub by: String,
    /// The commit that recorded it.
    pub commit: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Whether it counted towards the gate.
    pub counted: bool,
    /// Why it did not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// One change of a pin in history: the timeline of an environment.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Event {
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The commit.
    pub commit: String,
    /// Commit time (RFC 3339, UTC).
    pub at: String,
    /// Promote, rollback or break-glass.
    pub action: Action,
    /// The digest pinned.
    pub digest: Digest,
    /// Its version.
    pub version: String,
    /// Who.
    pub by: String,
    /// The environment it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<EnvName>,
    /// The break-glass reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The commit's signature: `good`, `unsigned`, `unknown-key`, `bad`.
    pub signature: String,
    /// The approvals present when it was promoted.
    pub approvals: Vec<ApprovalEvidence>,
    /// The gates of the environment as they stood, recomputed.
    pub gates: Vec<baton_view::GateOutcome>,
    /// How many error findings this commit has for this pin.
    pub findings: usize,
}

/// Everything the audit found.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(
    title = "baton audit --output json",
    description = "What `baton audit` found: every finding, the pin changes of the history as evidence, and a verdict per current pin."
)]
pub struct Report {
    /// The commit audited.
    pub commit: String,
    /// The branch.
    pub branch: String,
    /// When the audit ran (RFC 3339, UTC).
    pub at: String,
    /// Commits walked.
    pub commits: usize,
    /// Bundles re-hashed in their stores.
    pub bundles_verified: usize,
    /// Whether every digest ever pinned was re-hashed (`--deep`), not only the current pins.
    pub deep: bool,
    /// Whether targets were checked (`--targets`).
    pub targets: bool,
    /// Every finding: history in commit order, then the present.
    pub findings: Vec<Finding>,
    /// Every pin change in scope, oldest first.
    pub timeline: Vec<Event>,
    /// One verdict per current pin.
    pub summary: Vec<Verdict>,
}

impl Report {
    /// True when any finding is an error (exit 4).
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The JSON Schema of `baton audit --output json`, as committed in `schemas/`.
pub fn report_schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut text = serde_json::to_string_pretty(&schema).expect("holds because a schema is JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Fails when the committed schema differs from the types; `BATON_UPDATE_SCHEMAS=1` rewrites it.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn committed_report_schema_matches_the_types() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/audit-report.schema.json");
        let text = super::report_schema();
        if std::env::var_os("BATON_UPDATE_SCHEMAS").is_some() {
            fs_err::write(&path, &text).unwrap();
        }
        let committed = fs_err::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "schemas/audit-report.schema.json is out of date: run `BATON_UPDATE_SCHEMAS=1 cargo test -p baton-audit` and commit it"
        );
    }
}
