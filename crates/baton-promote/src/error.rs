//! Everything that can stop a promoter command, each naming the file, key, environment or digest
//! involved and what to do.

use std::path::PathBuf;

use baton_model::{BundleName, Digest, EnvName};
use baton_state::StateError;
use baton_store::StoreError;

use baton_view::{GateOutcome, ViewError};

/// Why a promoter command failed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The state repository could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state repository could not be read as baton needs it.
    #[error(transparent)]
    View(#[from] ViewError),
    /// `--store-prefix` is not a registry and path.
    #[error(
        "`--store-prefix {prefix}` must be a registry and path, for example `registry.example.com/team`: every machine reaches the stores there"
    )]
    StorePrefix {
        /// What was given.
        prefix: String,
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
    /// At least one gate does not hold (exit 3).
    #[error(
        "promotion of `{bundle}` {digest} to `{env}` refused:\n{}",
        gates.iter().filter(|g| !g.held).map(|g| format!("  - {}: {}", g.gate, g.detail) + &g.fix.as_ref().map(|f| format!(" ({f})")).unwrap_or_default()).collect::<Vec<_>>().join("\n")
    )]
    Refused {
        /// The bundle.
        bundle: BundleName,
        /// The environment.
        env: EnvName,
        /// The digest.
        digest: Digest,
        /// Every gate, holding or not (the message lists those that do not).
        gates: Vec<GateOutcome>,
    },
    /// A template of the bundle does not render with the environment's params (exit 3).
    #[error(transparent)]
    DoesNotRender(Box<DoesNotRender>),
    /// The rendering could not be published (`publish = true`).
    #[error(transparent)]
    Publish(#[from] baton_build::PublishError),
    /// The bundle to promote does not open or verify in its source store.
    #[error("`{bundle}` {digest} cannot be read from its source store")]
    Unreadable {
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
        /// What was found.
        #[source]
        source: baton_bundle::OpenError,
    },
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
    /// The branch head is dated after this machine's clock.
    #[error(
        "the state branch's head {commit} is dated {head}, {seconds} s after this machine's clock ({now}), more than the {allowance} s a concurrent writer explains; baton never writes a commit dated before its parent, because gates count time by commit dates: check this machine's clock (NTP) and the head's date (`git log -1 --format=%ci`), then run again"
    )]
    HeadInTheFuture {
        /// The head commit.
        commit: String,
        /// Its date.
        head: jiff::Timestamp,
        /// This machine's clock.
        now: jiff::Timestamp,
        /// How far ahead the head is.
        seconds: i64,
        /// How far ahead a head may be (a concurrent writer's commit).
        allowance: i64,
    },
    /// The key that signs the promotion cannot sign its attestation.
    #[error(
        "the signing key is an `{kind}` key, which cannot sign the promotion's attestation: use an ed25519 or ecdsa-sha2-nistp256 SSH key (`ssh-keygen -t ed25519`) and list it in .baton/allowed_signers"
    )]
    KeyCannotAttest {
        /// The key's type.
        kind: String,
    },
    /// `baton init` where a pipeline exists.
    #[error("`{}` already has a baton.toml: nothing to initialise", path.display())]
    AlreadyInitialised {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl PromoteError {
    /// The gates of a refusal, holding or not; empty for any other error.
    pub fn gates(&self) -> &[GateOutcome] {
        match self {
            PromoteError::Refused { gates, .. } => gates,
            _ => &[],
        }
    }

    /// What to do next, when the error knows.
    pub fn next_step(&self) -> Option<String> {
        match self {
            PromoteError::DoesNotRender(r) => Some(format!(
                "fix `{}` and build the bundle again, or give the value in `{}`, then promote to `{}` again",
                r.file, r.params, r.env
            )),
            _ => None,
        }
    }

    /// True when a gate, or the render for the environment, refused (exit code 3).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PromoteError::Refused { .. }
                | PromoteError::BreakGlassNotAllowed { .. }
                | PromoteError::DoesNotRender(_)
        )
    }
}

/// A template that does not render where the bundle is promoted: which, where, and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "promotion of `{bundle}` {digest} to `{env}` refused: {file}{} does not render with {env}'s params ({params}): {message}",
    line.map(|l| format!(":{l}")).unwrap_or_default()
)]
pub struct DoesNotRender {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub env: EnvName,
    /// The digest.
    pub digest: Digest,
    /// The params file rendered with.
    pub params: String,
    /// The template.
    pub file: String,
    /// Its line, when known.
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
}
