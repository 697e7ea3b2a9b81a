//! What the judge of history finds: a finding per thing a baton promotion would not have done,
//! and the pin changes as evidence. The audit reports them; the applier refuses a pin whose
//! commit has an error finding.

use baton_model::{Action, BundleName, Digest, EnvName, Principal};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{GateName, GateOutcome, Signature};

/// How bad a finding is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Recorded and allowed, or outside what the audit can reach, but always reported
    /// (break-glass, a target not reachable from here).
    Notice,
    /// The history, a store or a target is not what baton would have made.
    Error,
}

/// One thing the audit cannot explain.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Which check found it.
    pub check: Check,
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

/// The checks of the audit, each a kind of finding.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A change under `state/` or `approvals/` by a commit that is not baton's.
    HandEdit,
    /// A baton commit whose trailers do not match what it changed, or that changed more.
    Trailers,
    /// A pin that does not parse, was deleted, or names another place.
    StateFile,
    /// An approval that does not fit its place or was removed.
    Approval,
    /// A `baton.toml` that cannot be read: at the head (the audit judges by the last one that
    /// parsed), or at a commit that changed pins or approvals (its gates are unknown).
    Pipeline,
    /// A commit not signed by a key listed for its principal where signers are required.
    Signature,
    /// A digest that did not pass the upstream environment first.
    Chain,
    /// A recorded break-glass (a notice).
    BreakGlass,
    /// A promotion before the soak was over.
    GateSoak,
    /// A promotion without enough valid approvals.
    GateApprovals,
    /// A promotion outside every window.
    GateWindow,
    /// A promotion without a valid signature by a key the environment names.
    GateSignedBy,
    /// A promotion before enough of the upstream's targets reported the digest verified.
    GateVerified,
    /// A signature or attestation a pin relies on that is missing from the environment's store,
    /// does not verify, is about another digest or environment, or was made after the promotion.
    Evidence,
    /// A params file that differs from the digest its pin recorded.
    Params,
    /// A store that does not hold the pinned bytes intact.
    Store,
    /// A version tag that no longer names the pinned digest.
    Tag,
    /// History rewritten under the branch.
    Rewrite,
    /// A shallow clone: history the audit needs is missing.
    Shallow,
    /// A pin of an environment `baton.toml` no longer defines: nothing applies or promotes it,
    /// and its store is still checked.
    Orphan,
    /// A commit dated before its parent: a clock was wrong, and gates that count time by
    /// commit dates (soak, windows) cannot be trusted across it.
    Clock,
    /// A target whose record does not name the pin, or that cannot be read.
    Target,
    /// A target whose files differ from its record.
    Drift,
    /// An expected target that has not reported the current pin applied and verified (behind,
    /// failed, silent), or a report of this environment that does not hold.
    Running,
}

impl Check {
    /// The finding of a gate that did not hold; none for `upstream`, whose failure is the
    /// chain's finding.
    pub fn of_gate(gate: GateName) -> Option<Check> {
        match gate {
            GateName::Upstream => None,
            GateName::Soak => Some(Check::GateSoak),
            GateName::Approvals => Some(Check::GateApprovals),
            GateName::Window => Some(Check::GateWindow),
            GateName::SignedBy => Some(Check::GateSignedBy),
            GateName::Verified => Some(Check::GateVerified),
        }
    }

    /// The word in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::HandEdit => "hand-edit",
            Check::Trailers => "trailers",
            Check::StateFile => "state-file",
            Check::Approval => "approval",
            Check::Pipeline => "pipeline",
            Check::Signature => "signature",
            Check::Chain => "chain",
            Check::BreakGlass => "break-glass",
            Check::GateSoak => "gate-soak",
            Check::GateApprovals => "gate-approvals",
            Check::GateWindow => "gate-window",
            Check::GateSignedBy => "gate-signed-by",
            Check::GateVerified => "gate-verified",
            Check::Evidence => "evidence",
            Check::Params => "params",
            Check::Store => "store",
            Check::Tag => "tag",
            Check::Rewrite => "rewrite",
            Check::Clock => "clock",
            Check::Orphan => "orphan",
            Check::Shallow => "shallow",
            Check::Target => "target",
            Check::Drift => "drift",
            Check::Running => "running",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval, as the audit weighed it for a promotion.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalEvidence {
    /// Who approved.
    pub by: Principal,
    /// The commit that recorded it, when one did.
    pub commit: Option<String>,
    /// When, as the approval file records it.
    pub at: Option<Timestamp>,
    /// Whether it counted towards the gate.
    pub counted: bool,
    /// Why it did not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// One change of a pin in history: the timeline of an environment.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The commit.
    pub commit: String,
    /// Commit time.
    pub at: Timestamp,
    /// Promote, rollback or break-glass.
    pub action: Action,
    /// The digest pinned.
    pub digest: Digest,
    /// Its version.
    pub version: String,
    /// Who.
    pub by: Principal,
    /// The environment it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<EnvName>,
    /// The reason a break-glass or a rollback gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key ids of the bundle signatures the promotion counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// The promotion's attestation (a referrer of the bundle in the environment's store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Digest>,
    /// The upstream targets' reports the `verified` gate counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<baton_model::RecordedVerification>,
    /// The digest of the params file the pin records.
    pub params_digest: Digest,
    /// The environment's published rendering the pin records (`publish = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Digest>,
    /// What the commit's signature proves for the principal it names.
    pub signature: Signature,
    /// The approvals present when it was promoted.
    pub approvals: Vec<ApprovalEvidence>,
    /// The gates of the environment as they stood, recomputed.
    pub gates: Vec<GateOutcome>,
    /// How many error findings this commit has for this pin.
    pub findings: usize,
}
