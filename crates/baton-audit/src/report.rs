//! What the audit reports: findings, the chain of pin changes as evidence, and a verdict per
//! current pin. The JSON form is `baton audit --output json`; its schema is committed in
//! `schemas/audit-report.schema.json`.

use baton_model::{BundleName, Digest, EnvName};
pub use baton_view::judge::{ApprovalEvidence, Check, Event, Finding, Severity};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The verdict on one pin.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
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

/// Everything the audit found.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(
    title = "baton audit --output json",
    description = "What `baton audit` found: every finding, the pin changes of the history as evidence, and a verdict per current pin."
)]
pub struct Report {
    /// The commit audited.
    pub commit: String,
    /// The branch.
    pub branch: String,
    /// When the audit ran.
    pub at: Timestamp,
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
    /// The attestations the audit relied on and found holding, each a DSSE envelope on one line
    /// of JSON (`baton audit --export evidence.intoto.jsonl` writes them).
    #[serde(skip)]
    #[schemars(skip)]
    pub attestations: Vec<String>,
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
