//! Everything that can stop a read of the state repository, each naming the file, key,
//! environment or digest involved and what to do.

use std::path::PathBuf;

use baton_model::{BundleName, Digest, EnvName, PipelineError, Principal, Violation};
use baton_state::StateError;
use baton_store::StoreError;

/// Why the state repository (or a bundle it pins) could not be read as baton needs it.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The state repository could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// A store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `baton.toml` is missing.
    #[error("`{}` has no baton.toml at its root: run `baton init` there", repo.display())]
    NoPipeline {
        /// The state repository.
        repo: PathBuf,
    },
    /// `baton.toml` does not parse or is inconsistent.
    #[error("`{}` is not a valid pipeline", file.display())]
    Pipeline {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        source: PipelineError,
    },
    /// A file of the state repository is not UTF-8.
    #[error("`{}` is not UTF-8", file.display())]
    NotUtf8 {
        /// The file, relative to the state repository.
        file: PathBuf,
    },
    /// A file of the state repository does not parse.
    #[error("`{}` does not parse{}", file.display(), if *written_by_baton { ": this file is written only by baton, restore it from history" } else { "" })]
    BadFile {
        /// The file, relative to the state repository.
        file: PathBuf,
        /// Whether only baton writes it (a pin), so the fix is to restore it, not to edit it.
        written_by_baton: bool,
        /// What the parser said.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// An approval file whose content does not match its path.
    #[error(
        "`{}` does not match its place (principal, environment, bundle, digest): it was not written by `baton approve`; remove it",
        file.display()
    )]
    MisplacedApproval {
        /// The file, relative to the state repository.
        file: PathBuf,
    },
    /// No environment of that name.
    #[error("environment `{env}` is not defined in baton.toml (environments: {known})")]
    UnknownEnvironment {
        /// The name given.
        env: String,
        /// The names defined, in chain order.
        known: String,
    },
    /// A relative `oci:` store of a state read from a URL: a folder of another machine's clone.
    #[error(
        "store `{store}` is a folder inside the clone that wrote it, on another machine: a state read from a URL has no work tree to find it in, and baton never looks for it in the current directory; use a registry store (`baton init --store-prefix REGISTRY/PATH`), or run in that clone"
    )]
    LocalStore {
        /// The store, as baton.toml writes it.
        store: String,
    },
    /// The digest is not in the store it should be in.
    #[error(
        "bundle `{bundle}` at {digest} is not in store `{store}`: `baton bundle list --store {store}` shows what it holds"
    )]
    NotInStore {
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
        /// The store.
        store: String,
        /// What the store said.
        #[source]
        source: Box<StoreError>,
    },
    /// The digest is not a bundle, or its manifest or config is damaged.
    #[error(
        "bundle `{bundle}` at {digest} in `{store}` cannot be read: `baton bundle verify {store}/{bundle}@{digest}` names every damaged part"
    )]
    BadBundle {
        /// The bundle.
        bundle: BundleName,
        /// The digest.
        digest: Digest,
        /// The store.
        store: String,
        /// What is wrong.
        #[source]
        source: Box<baton_bundle::OpenError>,
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
    #[error("`git config user.email` is not a valid principal: pass `--as NAME`")]
    BadPrincipal(#[source] baton_model::PrincipalError),
    /// The repository requires signed commits and no key was given.
    #[error(
        "this state repository requires signed commits (.baton/allowed_signers exists): pass `--sign-key PATH` or set `git config user.signingkey PATH` to an SSH private key listed there for `{principal}`"
    )]
    SigningKeyNeeded {
        /// Who would sign.
        principal: Principal,
    },
    /// The signing key is not listed for the principal.
    #[error(
        "signing key {fingerprint} (`{}`) {} in .baton/allowed_signers: baton refuses to write a commit git would not verify; sign with a key listed for `{principal}`",
        path.display(),
        if listed_for.is_empty() { "is not listed".to_owned() } else { format!("is listed for {}, not for `{principal}`", listed_for.join(", ")) }
    )]
    KeyNotListed {
        /// The key's fingerprint.
        fingerprint: String,
        /// The key file.
        path: PathBuf,
        /// The principals the key is listed for.
        listed_for: Vec<String>,
        /// Who would sign.
        principal: Principal,
    },
    /// A key or the allowed-signers file cannot be used.
    #[error(transparent)]
    Signing(#[from] baton_state::SigningError),
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
