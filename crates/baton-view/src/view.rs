//! One consistent view of the state repository: the branch head read once, the pipeline and
//! files at that commit, and the history behind it.

use std::path::{Path, PathBuf};

use baton_model::{
    Action, ApprovalRecord, BundleName, Digest, EnvName, Environment, Pipeline, Principal,
    StatePath, StateRecord, StoreLocation, Trailers,
    layout::{self, ALLOWED_SIGNERS, PIPELINE},
};
use baton_state::{
    AllowedSigners, CommitInfo, Identity, ObjectId, SignatureCheck, SigningKey, Snapshot, StateRepo,
};
use baton_store::{RegistryOptions, Store};
use serde::{Deserialize, Serialize};

use crate::ViewError;

/// A pin file by its path, parsed or with why it does not parse.
pub type PinFile = (String, Result<StateRecord, ViewError>);

/// The path of the pin of `bundle` in `env`.
pub fn state_path(env: &EnvName, bundle: &BundleName) -> String {
    StatePath::Pin { env: env.clone(), bundle: bundle.clone() }.to_path()
}

/// The path of the parameters of `bundle` in `env`.
pub fn params_path(env: &EnvName, bundle: &BundleName) -> String {
    StatePath::Params { env: env.clone(), bundle: bundle.clone() }.to_path()
}

/// One pin change found in history.
#[derive(Clone, Debug)]
pub struct PinEvent {
    /// The commit.
    pub commit: ObjectId,
    /// Its committer time.
    pub time: i64,
    /// Its trailers.
    pub trailers: Trailers,
    /// Whether it carries a signature.
    pub signed: bool,
}

/// The state repository as read at one commit.
pub struct View {
    /// The repository.
    pub repo: StateRepo,
    /// The commit everything is read from.
    pub snapshot: Snapshot,
    /// `baton.toml` at that commit.
    pub pipeline: Pipeline,
    /// Why `baton.toml` at that commit could not be used, when the view was opened leniently
    /// (the audit): `pipeline` is then the last one of the branch that parsed.
    pub broken_pipeline: Option<String>,
}

impl View {
    /// Reads the branch head of `repo` and the pipeline there.
    pub fn open(repo: StateRepo) -> Result<View, ViewError> {
        follow_upstream(&repo);
        let snapshot = repo.head()?;
        let pipeline = load_pipeline(&repo, &snapshot)?;
        Ok(View { repo, snapshot, pipeline, broken_pipeline: None })
    }

    /// Like [`View::open`], but a `baton.toml` at the head that is missing, not UTF-8 or does
    /// not parse is kept as `broken_pipeline`, and the view judges by the newest commit whose
    /// `baton.toml` parses (by none, when no commit's does): the auditor reports it and still
    /// audits everything else. Only a repository that cannot be read is an error.
    pub fn open_lenient(repo: StateRepo) -> Result<View, ViewError> {
        follow_upstream(&repo);
        let snapshot = repo.head()?;
        match load_pipeline(&repo, &snapshot) {
            Ok(pipeline) => Ok(View { repo, snapshot, pipeline, broken_pipeline: None }),
            Err(
                error @ (ViewError::Pipeline { .. }
                | ViewError::NoPipeline { .. }
                | ViewError::NotUtf8 { .. }),
            ) => {
                let mut pipeline = Pipeline::empty();
                if let Some(tip) = snapshot.commit {
                    for info in repo.commits(tip)? {
                        let info = info?;
                        let earlier = Snapshot { commit: Some(info.id), tree: info.tree };
                        if let Ok(parsed) = load_pipeline(&repo, &earlier) {
                            pipeline = parsed;
                            break;
                        }
                    }
                }
                let broken = Some(error_chain(&error));
                Ok(View { repo, snapshot, pipeline, broken_pipeline: broken })
            }
            Err(error) => Err(error),
        }
    }

    /// Reads the head again (after the branch moved).
    pub fn refresh(&mut self) -> Result<(), ViewError> {
        report_sync(self.repo.sync_with_upstream()?, &self.repo);
        self.snapshot = self.repo.head()?;
        self.pipeline = load_pipeline(&self.repo, &self.snapshot)?;
        Ok(())
    }

    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Result<&Environment, ViewError> {
        name.parse::<EnvName>().ok().and_then(|n| self.pipeline.environment(&n)).ok_or_else(|| {
            ViewError::UnknownEnvironment { env: name.to_owned(), known: self.pipeline.names() }
        })
    }

    /// Where an environment's store is: relative `oci:` paths are relative to the repository's
    /// work tree. A state read from a URL has none: such a store is a folder of the clone that
    /// wrote it, on another machine, and is never resolved against the current directory.
    pub fn store_location(&self, env: &Environment) -> Result<StoreLocation, ViewError> {
        self.locate(&env.store)
    }

    /// [`View::store_location`] of a store as written in baton.toml.
    pub fn locate(&self, store: &StoreLocation) -> Result<StoreLocation, ViewError> {
        match store {
            StoreLocation::Layout(path) if path.is_relative() && !self.repo.is_users_clone() => {
                Err(ViewError::LocalStore { store: store.to_string() })
            }
            other => Ok(resolve_store(self.repo.paths_root(), other)),
        }
    }

    /// Opens an environment's store.
    pub fn open_store(
        &self,
        env: &Environment,
        options: &RegistryOptions,
    ) -> Result<Store, ViewError> {
        Ok(Store::open(&self.store_location(env)?, options)?)
    }

    /// A file at the snapshot, as text.
    pub fn read_text(&self, path: &str) -> Result<Option<String>, ViewError> {
        let Some(bytes) = self.repo.read(&self.snapshot, path)? else {
            return Ok(None);
        };
        String::from_utf8(bytes).map(Some).map_err(|_| ViewError::NotUtf8 { file: path.into() })
    }

    /// The pin of `bundle` in `env` at the snapshot.
    pub fn pin(
        &self,
        env: &EnvName,
        bundle: &BundleName,
    ) -> Result<Option<StateRecord>, ViewError> {
        let path = state_path(env, bundle);
        let Some(bytes) = self.repo.read(&self.snapshot, &path)? else {
            return Ok(None);
        };
        parse_pin(&path, &bytes).map(Some)
    }

    /// Every pin in `env`, by bundle name: one listing of `state/<env>`, then each blob by id.
    pub fn pins_in(&self, env: &EnvName) -> Result<Vec<StateRecord>, ViewError> {
        let mut pins = self
            .pin_files_in(env)?
            .into_iter()
            .map(|(_, pin)| pin)
            .collect::<Result<Vec<_>, _>>()?;
        pins.sort_by(|a, b| a.bundle.cmp(&b.bundle));
        Ok(pins)
    }

    /// Every pin file of `env` at the snapshot, by path, each parsed or with why it does not
    /// parse: the audit reports a broken one and goes on with the rest.
    pub fn pin_files_in(&self, env: &EnvName) -> Result<Vec<PinFile>, ViewError> {
        let dir = layout::pins_dir(env);
        let mut files = Vec::new();
        for (name, is_dir, id) in self.repo.list(&self.snapshot, &dir)? {
            if is_dir || name.strip_suffix(".toml").is_none() {
                continue;
            }
            let path = format!("{dir}/{name}");
            let parsed = parse_pin(&path, &self.repo.blob(id)?);
            files.push((path, parsed));
        }
        Ok(files)
    }

    /// The environments with a directory under `state/` at the snapshot, whether `baton.toml`
    /// defines them or not (a removed environment leaves orphaned pins), sorted.
    pub fn pinned_environments(&self) -> Result<Vec<EnvName>, ViewError> {
        let mut envs: Vec<EnvName> = self
            .repo
            .list(&self.snapshot, layout::Dir::State.as_str())?
            .into_iter()
            .filter(|(_, is_dir, _)| *is_dir)
            .filter_map(|(name, _, _)| name.parse().ok())
            .collect();
        envs.sort();
        Ok(envs)
    }

    /// The bundles with a pin in `env`, sorted.
    pub fn pinned_bundles(&self, env: &EnvName) -> Result<Vec<BundleName>, ViewError> {
        let mut names: Vec<BundleName> = self
            .repo
            .list(&self.snapshot, &layout::pins_dir(env))?
            .into_iter()
            .filter(|(_, is_dir, _)| !is_dir)
            .filter_map(|(name, _, _)| name.strip_suffix(".toml").and_then(|n| n.parse().ok()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The approvals of `digest` of `bundle` for `env` at the snapshot, in file-name order.
    pub fn approvals(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        digest: &Digest,
    ) -> Result<Vec<ApprovalRecord>, ViewError> {
        let dir = layout::approvals_dir(env, bundle, digest);
        let mut found = Vec::new();
        for (name, is_dir, id) in self.repo.list(&self.snapshot, &dir)? {
            let Some(stem) = name.strip_suffix(".toml") else { continue };
            if is_dir {
                continue;
            }
            let path = format!("{dir}/{name}");
            let bytes = self.repo.blob(id)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| ViewError::NotUtf8 { file: path.clone().into() })?;
            let record = ApprovalRecord::from_toml(text).map_err(|source| ViewError::BadFile {
                file: path.clone().into(),
                written_by_baton: true,
                source: Box::new(source),
            })?;
            if record.by.as_str() != stem
                || record.digest != *digest
                || record.environment != *env
                || record.bundle != *bundle
            {
                return Err(ViewError::MisplacedApproval { file: path.into() });
            }
            found.push(record);
        }
        Ok(found)
    }

    /// Pin changes in history, newest first, for which `keep` holds; stops after `limit`.
    pub fn pin_events(
        &self,
        keep: impl Fn(&Trailers) -> bool,
        limit: usize,
    ) -> Result<Vec<PinEvent>, ViewError> {
        let mut events = Vec::new();
        let Some(tip) = self.snapshot.commit else { return Ok(events) };
        for info in self.repo.commits(tip)? {
            let info = info?;
            let Some(Ok(trailers)) = Trailers::parse(&info.message) else { continue };
            if trailers.action == Action::Approve || !keep(&trailers) {
                continue;
            }
            events.push(PinEvent {
                commit: info.id,
                time: info.time,
                trailers,
                signed: info.signature.is_some(),
            });
            if events.len() >= limit {
                break;
            }
        }
        Ok(events)
    }

    /// Refuses when `state/<env>/<bundle>.toml` is not what baton last wrote there: a pin
    /// changed by hand (and committed) must be restored before baton builds on it.
    pub fn check_not_hand_edited(
        &self,
        env: &EnvName,
        bundle: &BundleName,
    ) -> Result<(), ViewError> {
        let path = state_path(env, bundle);
        let current = self.repo.blob_id(&self.snapshot, &path)?;
        let last = self.pin_events(|t| t.to == *env && t.bundle == *bundle, 1)?;
        let (written, commit) = match last.first() {
            Some(event) => {
                let info = self.repo.commit_info(event.commit)?;
                (self.repo.blob_id_in(info.tree, &path)?, Some(event.commit))
            }
            None => (None, None),
        };
        if current == written {
            return Ok(());
        }
        let text = |id: Option<ObjectId>| -> Result<String, ViewError> {
            Ok(match id {
                Some(id) => String::from_utf8_lossy(&self.repo.blob(id)?).into_owned(),
                None => String::new(),
            })
        };
        let diff = similar::TextDiff::from_lines(&text(written)?, &text(current)?)
            .unified_diff()
            .header(&format!("a/{path} (as baton wrote it)"), &format!("b/{path} (now)"))
            .to_string();
        Err(ViewError::HandEdited {
            path,
            commit: commit.map_or_else(|| "none (baton never wrote it)".into(), |c| c.to_string()),
            diff,
        })
    }

    /// `.baton/allowed_signers` at `tree`, if the repository has one there.
    pub fn allowed_signers_in(&self, tree: ObjectId) -> Result<Option<AllowedSigners>, ViewError> {
        let Some(id) = self.repo.blob_id_in(tree, ALLOWED_SIGNERS)? else { return Ok(None) };
        let text = String::from_utf8_lossy(&self.repo.blob(id)?).into_owned();
        Ok(Some(AllowedSigners::parse(&text)?))
    }

    /// The key that signs this command's commit: `--sign-key`, else git's `user.signingkey`.
    /// Required, and required to be listed for `principal`, when `.baton/allowed_signers` exists.
    /// `at` is the instant the commit will carry: a line of `.baton/allowed_signers` whose
    /// `valid-after`/`valid-before` exclude it does not list the key.
    pub fn signing_key(
        &self,
        principal: &Principal,
        explicit: Option<&Path>,
        at: jiff::Timestamp,
    ) -> Result<Option<SigningKey>, ViewError> {
        let signers = self.allowed_signers_in(self.snapshot.tree)?;
        let configured = self.repo.config_path("user.signingkey");
        let path = explicit.map(Path::to_path_buf).or(configured);
        let Some(path) = path else {
            if signers.is_some() {
                return Err(ViewError::SigningKeyNeeded { principal: principal.clone() });
            }
            return Ok(None);
        };
        let key = SigningKey::load(&path)?;
        if let Some(signers) = signers
            && !signers.allows(principal.as_str(), key.public(), at.as_second())
        {
            return Err(ViewError::KeyNotListed {
                fingerprint: key.fingerprint(),
                path,
                listed_for: signers.principals_for(key.public(), at.as_second()),
                principal: principal.clone(),
            });
        }
        Ok(Some(key))
    }

    /// What the signature of `commit` proves, against the allowed signers of that commit.
    pub fn signature_state(&self, commit: ObjectId) -> Result<SignatureState, ViewError> {
        let info = self.repo.commit_info(commit)?;
        let signers = self.allowed_signers_in(info.tree)?.unwrap_or_default();
        self.signature_state_of(&info, &signers)
    }

    /// What the signature of a decoded commit proves against `signers` (for a caller that has
    /// both already, such as the auditor walking history).
    pub fn signature_state_of(
        &self,
        info: &CommitInfo,
        signers: &AllowedSigners,
    ) -> Result<SignatureState, ViewError> {
        let Some(signature) = info.signature.as_deref() else {
            return Ok(SignatureState::Unsigned);
        };
        let payload = self.repo.signed_payload(info.id)?;
        Ok(match signers.check(Some(signature), &payload, info.time) {
            SignatureCheck::Good { principals, fingerprint } => {
                SignatureState::Good { principals, fingerprint }
            }
            SignatureCheck::UnknownKey { fingerprint } => SignatureState::UnknownKey(fingerprint),
            SignatureCheck::Bad { reason } => SignatureState::Bad(reason),
            SignatureCheck::Unsigned => SignatureState::Unsigned,
        })
    }

    /// The newest commit that recorded each principal's approval of `digest` of `bundle` for
    /// `env`: one walk of the history, which stops once every principal in `wanted` is found.
    pub fn approval_commits(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        digest: &Digest,
        wanted: &[Principal],
    ) -> Result<std::collections::HashMap<Principal, ObjectId>, ViewError> {
        let mut found = std::collections::HashMap::new();
        let Some(tip) = self.snapshot.commit else { return Ok(found) };
        for info in self.repo.commits(tip)? {
            if found.len() == wanted.len() {
                break;
            }
            let info = info?;
            if let Some(Ok(t)) = Trailers::parse(&info.message)
                && t.action == Action::Approve
                && t.to == *env
                && t.bundle == *bundle
                && t.digest == *digest
                && wanted.contains(&t.by)
            {
                found.entry(t.by).or_insert(info.id);
            }
        }
        Ok(found)
    }

    /// The principal: `--as`, else git's `user.email`.
    pub fn principal(&self, as_: Option<&str>) -> Result<Principal, ViewError> {
        let text = match as_ {
            Some(text) => text.to_owned(),
            None => self
                .repo
                .configured_identity()
                .map(|i| i.email)
                .filter(|e| !e.is_empty())
                .ok_or(ViewError::NoPrincipal)?,
        };
        text.parse().map_err(ViewError::BadPrincipal)
    }

    /// The identity commits are written as: git's, else the principal.
    pub fn identity(&self, principal: &Principal) -> Identity {
        self.repo.configured_identity().unwrap_or_else(|| Identity {
            name: principal.to_string(),
            email: principal.to_string(),
        })
    }
}

/// What a commit's signature proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureState {
    /// No signature.
    Unsigned,
    /// Valid, by a key listed for these principals.
    Good {
        /// The principals the key is listed for.
        principals: Vec<String>,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Valid, by a key not listed (fingerprint).
    UnknownKey(String),
    /// Invalid.
    Bad(String),
}

/// What a commit's signature proves for the principal the commit names, in one word: the
/// `signature` of `history` and of the audit's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Signature {
    /// No signature.
    Unsigned,
    /// Valid, by a key listed for the commit's principal.
    Good,
    /// Valid, by a key listed for another principal.
    WrongPrincipal,
    /// Valid, by a key not listed.
    UnknownKey,
    /// Invalid.
    Bad,
    /// The repository requires no signatures (no `.baton/allowed_signers`), so none was checked.
    NotRequired,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signature::Unsigned => "unsigned",
            Signature::Good => "good",
            Signature::WrongPrincipal => "wrong-principal",
            Signature::UnknownKey => "unknown-key",
            Signature::Bad => "bad",
            Signature::NotRequired => "not-required",
        })
    }
}

impl SignatureState {
    /// The fingerprint of the key, when the signature is good for `principal`.
    pub fn key_for(&self, principal: &str) -> Option<String> {
        match self {
            SignatureState::Good { fingerprint, .. } if self.is_good_for(principal) => {
                Some(fingerprint.clone())
            }
            _ => None,
        }
    }

    /// The one word for a commit that names `principal`.
    pub fn for_principal(&self, principal: &str) -> Signature {
        match self {
            SignatureState::Unsigned => Signature::Unsigned,
            SignatureState::Good { .. } if self.is_good_for(principal) => Signature::Good,
            SignatureState::Good { .. } => Signature::WrongPrincipal,
            SignatureState::UnknownKey(_) => Signature::UnknownKey,
            SignatureState::Bad(_) => Signature::Bad,
        }
    }

    /// True when the signature is valid and its key is listed for `principal`.
    pub fn is_good_for(&self, principal: &str) -> bool {
        matches!(self, SignatureState::Good { principals, .. } if principals.iter().any(|p| baton_state::principal_matches(p, principal)))
    }
}

/// Resolves a relative `oci:` path against the state repository.
pub fn resolve_store(root: &Path, store: &StoreLocation) -> StoreLocation {
    match store {
        StoreLocation::Layout(path) if path.is_relative() => StoreLocation::Layout(root.join(path)),
        other => other.clone(),
    }
}

/// Brings a clone whose branch has an upstream up to date with it before anything is read. A
/// failure is a warning: a reader goes on with the local branch, and a writer's commit fetches
/// again and fails there, before anything is published.
fn follow_upstream(repo: &StateRepo) {
    match repo.sync_with_upstream() {
        Ok(synced) => report_sync(synced, repo),
        Err(error) => tracing::warn!(
            "could not bring the state repository up to date with its upstream: {}; reading the local branch",
            error_chain(&error)
        ),
    }
}

fn report_sync(synced: baton_state::Synced, repo: &StateRepo) {
    if let baton_state::Synced::FastForwarded(commits) = synced {
        let upstream = repo.upstream().map(|u| u.name()).unwrap_or_default();
        tracing::warn!(
            "the clone was {commits} commit(s) behind `{upstream}`: brought up to date first"
        );
    }
}

/// An error with its causes, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text.replace('\n', " ")
}

fn load_pipeline(repo: &StateRepo, snapshot: &Snapshot) -> Result<Pipeline, ViewError> {
    let file: PathBuf = repo.root().join(PIPELINE);
    let Some(bytes) = repo.read(snapshot, PIPELINE)? else {
        return Err(ViewError::NoPipeline { repo: repo.root().to_owned() });
    };
    let text = String::from_utf8(bytes).map_err(|_| ViewError::NotUtf8 { file: file.clone() })?;
    Pipeline::from_toml(&text).map_err(|source| ViewError::Pipeline { file, source })
}

/// A pin's file, parsed; the error names the file and how to fix it.
fn parse_pin(path: &str, bytes: &[u8]) -> Result<StateRecord, ViewError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ViewError::NotUtf8 { file: path.into() })?;
    StateRecord::from_toml(text).map_err(|source| ViewError::BadFile {
        file: path.into(),
        written_by_baton: true,
        source: Box::new(source),
    })
}

/// A commit time (seconds since the epoch, as git records it) as a timestamp. git accepts any
/// 64-bit time; one beyond jiff's range (years -9999 to 9999) is taken at the range's edge, the
/// one way every report and gate reads such a date.
pub fn commit_time(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap_or(if seconds < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}
