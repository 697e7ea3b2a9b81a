//! Everything that can stop the applier, each naming the environment, bundle, file or command
//! involved and what to do. No message ever holds a secret's value.

use baton_bundle::Finding;
use baton_model::{BundleName, Digest, EnvName};
use baton_store::StoreError;
use baton_view::ViewError;

/// Why an apply, plan or drift check failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Reading the state repository failed.
    #[error(transparent)]
    State(#[from] ViewError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The environment pins nothing for the bundle.
    #[error(
        "`{env}` pins no `{bundle}`: promote it there first (`baton status` shows what is pinned)"
    )]
    NotPinned {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
    },
    /// The commit that wrote the pin is not one a promotion would have made, as the audit
    /// judges it: the applier does not act on it and the target keeps what it has.
    #[error(
        "`{env}` pins `{bundle}` at {digest} by commit {commit}, which a baton promotion would not have made; nothing was applied and the target keeps what it has:\n{}\npromote the digest through the chain (`baton promote {bundle} --to {env}`), or record a break-glass (`--break-glass REASON`)",
        reasons.iter().map(|f| format!("  - {}: expected {}, found {}", f.check, f.expected, f.found)).collect::<Vec<_>>().join("\n")
    )]
    NotAdmitted {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
        /// The pinned digest.
        digest: Digest,
        /// The commit that wrote the pin.
        commit: baton_state::ObjectId,
        /// The judge's error findings for that commit.
        reasons: Vec<baton_view::judge::Finding>,
    },
    /// No commit of the history here wrote the pin, so it cannot be judged: a shallow clone.
    #[error(
        "`{env}` pins `{bundle}` at {digest}, but no commit in this clone's history wrote it, so baton cannot judge it and applies nothing; the target keeps what it has. A shallow clone lacks the history: run `git fetch --unshallow`"
    )]
    Unjudged {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
        /// The pinned digest.
        digest: Digest,
    },
    /// The environment pins nothing at all.
    #[error("`{env}` pins no bundle yet: nothing to apply")]
    NothingPinned {
        /// The environment.
        env: EnvName,
    },
    /// The environment has no target.
    #[error(
        "`{env}` has no target in baton.toml: add `target = {{ kind = \"dir\", path = \"…\" }}` to apply it"
    )]
    NoTarget {
        /// The environment.
        env: EnvName,
    },
    /// The bundle failed verification even after fetching it again.
    #[error(
        "bundle `{bundle}` at {digest} failed verification after a fresh fetch from `{store}`; nothing was applied:\n{}",
        findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
    )]
    Verification {
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
        /// The store.
        store: String,
        /// What was wrong.
        findings: Vec<Finding>,
    },
    /// The rendering could not be published.
    #[error(transparent)]
    Publish(#[from] baton_build::PublishError),
    /// A template failed to render.
    #[error("render error in `{file}`{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Render {
        /// The file, relative to the bundle.
        file: String,
        /// The line, when known.
        line: Option<usize>,
        /// What went wrong (secrets masked).
        message: String,
    },
    /// A secret reference could not be resolved.
    #[error("parameter `{param}` in {file}: {message}")]
    Secret {
        /// The parameter.
        param: String,
        /// The params file.
        file: String,
        /// What is missing.
        message: String,
    },
    /// The target's files or records could not be read or written.
    #[error(transparent)]
    Target(#[from] baton_target::TargetError),
    /// A command of an exec target failed.
    #[error(
        "{what} `{command}` {outcome}; the previous release stays applied{}",
        if stderr.is_empty() { String::new() } else { format!(":\n{stderr}") }
    )]
    Command {
        /// `check` or `command`.
        what: &'static str,
        /// The argv, joined.
        command: String,
        /// How it ended.
        outcome: String,
        /// The last lines of its stderr (secrets masked).
        stderr: String,
    },
    /// The apply is done, but its report is not in the store.
    #[error(
        "`{bundle}` is applied in `{env}`, but its report could not be written into the environment's store; the next `baton apply` or agent pass writes it (check that this machine may push to that store)"
    )]
    Report {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
        /// Why the store refused.
        #[source]
        source: Box<ApplyError>,
    },
    /// The environment publishes, its pin records no rendering, and this apply could not
    /// publish it; the target was not touched.
    #[error(
        "`{env}` publishes its rendering (`publish = true`) and the pin of `{bundle}` records none, but it could not be published, so `{bundle}` was not applied (the target is as it was): {next}"
    )]
    PublishBeforeApply {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
        /// What to do, for the cause below.
        next: String,
        /// Why publishing failed.
        #[source]
        source: Box<ApplyError>,
    },
    /// The target cannot write reports its environment would accept.
    #[error("target `{target}` of `{env}` cannot report: {problem}")]
    ReportKey {
        /// The environment.
        env: EnvName,
        /// The target.
        target: baton_model::TargetId,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
