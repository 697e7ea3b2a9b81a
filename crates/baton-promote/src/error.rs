//! Everything that can stop a promoter command, each naming the file, key, environment or digest
//! involved and what to do.

use std::path::PathBuf;

use baton_model::{BundleName, Digest, EnvName, PipelineError, Violation};
use baton_state::StateError;
use baton_store::StoreError;

use crate::GateResult;

/// Why a promoter command failed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The state repository could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `baton.toml` is missing.
    #[error("`{}` has no baton.toml at its root: run `baton init` there", repo.display())]
    NoPipeline {
        /// The state repository.
        repo: PathBuf,
    },
    /// `baton.toml` does not parse or is inconsistent.
    #[error("{}: {source}", file.display())]
    Pipeline {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        source: PipelineError,
    },
    /// A file the promoter reads does not parse.
    #[error("{}: {message}", file.display())]
    BadFile {
        /// The file, relative to the state repository.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No environment of that name.
    #[error("environment `{env}` is not defined in baton.toml (environments: {known})")]
    UnknownEnvironment {
        /// The name given.
        env: String,
        /// The names defined, in chain order.
        known: String,
    },
    /// The first environment of a chain needs an explicit digest and source store.
    #[error(
        "`{env}` is the first environment of the chain: say what to promote with `--digest sha256:… --from-store STORE`"
    )]
    NoUpstream {
        /// The environment.
        env: EnvName,
    },
    /// An explicit digest without a store to copy from.
    #[error("`--digest` for `{env}` needs `--from-store STORE`, the store that holds the bundle")]
    NoSourceStore {
        /// The environment.
        env: EnvName,
    },
    /// The upstream environment pins nothing for this bundle.
    #[error(
        "`{upstream}` (upstream of `{env}`) pins no `{bundle}`: promote it to `{upstream}` first"
    )]
    NothingUpstream {
        /// The environment promoted to.
        env: EnvName,
        /// Its upstream.
        upstream: EnvName,
        /// The bundle.
        bundle: BundleName,
    },
    /// The digest is not in the store it should come from.
    #[error("bundle `{bundle}` at {digest} is not in store `{store}`: {detail}")]
    NotInStore {
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
        /// The store.
        store: String,
        /// What the store said.
        detail: String,
    },
    /// The digest is not a bundle, or its manifest or config is damaged.
    #[error("bundle `{bundle}` at {digest} in `{store}` cannot be read: {detail}")]
    BadBundle {
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
        /// The store.
        store: String,
        /// What is wrong.
        detail: String,
    },
    /// The bundle in the store is another bundle than the one named.
    #[error("{digest} in `{store}` is bundle `{found}`, not `{bundle}`")]
    WrongBundle {
        /// The bundle named.
        bundle: BundleName,
        /// The bundle found.
        found: BundleName,
        /// The digest.
        digest: Digest,
        /// The store.
        store: String,
    },
    /// The environment's parameters do not satisfy the bundle's schema.
    #[error(
        "{}: the parameters of `{bundle}` in `{env}` do not satisfy the bundle's schema:\n{}",
        file.display(),
        violations.iter().map(|v| format!("  - `{}` {}", v.name, v.problem)).collect::<Vec<_>>().join("\n")
    )]
    Params {
        /// The params file, relative to the state repository.
        file: PathBuf,
        /// The bundle.
        bundle: BundleName,
        /// The environment.
        env: EnvName,
        /// Every violation.
        violations: Vec<Violation>,
    },
    /// At least one gate does not hold (exit 3).
    #[error(
        "promotion of `{bundle}` {digest} to `{env}` refused:\n{}",
        failures.iter().map(|g| format!("  - {}: {}", g.gate, g.detail) + &g.fix.as_ref().map(|f| format!(" ({f})")).unwrap_or_default()).collect::<Vec<_>>().join("\n")
    )]
    Refused {
        /// The bundle.
        bundle: BundleName,
        /// The environment.
        env: EnvName,
        /// The digest.
        digest: Digest,
        /// Every failing gate.
        failures: Vec<GateResult>,
    },
    /// A state file was changed by something other than baton.
    #[error(
        "`{path}` is not what baton last wrote there (commit {commit}): it was changed by hand. baton refuses to build on it until it is restored (`git revert` the edit, or check out the file from that commit and commit it):\n{diff}"
    )]
    HandEdited {
        /// The file.
        path: String,
        /// The commit baton last wrote it in.
        commit: String,
        /// What that commit changed.
        diff: String,
    },
    /// Nobody to act as.
    #[error(
        "no principal: pass `--as NAME` or set `git config user.email` in the state repository"
    )]
    NoPrincipal,
    /// The principal from git config is not a valid principal.
    #[error("{0}: pass `--as NAME`")]
    BadPrincipal(String),
    /// Break-glass where baton.toml does not allow it.
    #[error(
        "break-glass is not allowed for `{env}`: baton.toml must say `gates = {{ break_glass = true }}` there"
    )]
    BreakGlassNotAllowed {
        /// The environment.
        env: EnvName,
    },
    /// A rollback to a digest the environment never held.
    #[error(
        "`{env}` never pinned `{bundle}` at {digest}: `baton history {env} {bundle}` lists what it held"
    )]
    NeverPinned {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
    },
    /// Nothing to roll back to.
    #[error("`{env}` has no earlier pin of `{bundle}` to roll back to")]
    NothingToRollBack {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
    },
    /// The branch kept moving.
    #[error(
        "the state branch moved {attempts} times while baton tried to commit: other writers are busy; run the command again"
    )]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// `baton init` where a pipeline exists.
    #[error("`{}` already has a baton.toml: nothing to initialise", path.display())]
    AlreadyInitialised {
        /// The file.
        path: PathBuf,
    },
    /// A signing problem.
    #[error("{0}")]
    Signing(String),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl PromoteError {
    /// True when a gate refused (exit code 3).
    pub fn is_refusal(&self) -> bool {
        matches!(self, PromoteError::Refused { .. } | PromoteError::BreakGlassNotAllowed { .. })
    }
}
