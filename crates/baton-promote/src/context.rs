//! One consistent view of the state repository: the branch head read once, the pipeline and
//! files at that commit, and the history behind it.

use std::path::{Path, PathBuf};

use baton_model::{
    Action, ApprovalRecord, BundleName, Digest, EnvName, Environment, Pipeline, Principal,
    StateRecord, StoreLocation, Trailers,
};
use baton_state::{
    AllowedSigners, CommitInfo, Identity, ObjectId, SignatureCheck, SigningKey, Snapshot, StateRepo,
};
use baton_store::{RegistryOptions, Store};

use crate::PromoteError;

/// The path of the pin of `bundle` in `env`.
pub fn state_path(env: &EnvName, bundle: &BundleName) -> String {
    format!("state/{env}/{bundle}.toml")
}

/// The path of the parameters of `bundle` in `env`.
pub fn params_path(env: &EnvName, bundle: &BundleName) -> String {
    format!("params/{env}/{bundle}.toml")
}

/// The directory of the approvals of `digest` of `bundle` for `env`.
pub fn approvals_dir(env: &EnvName, bundle: &BundleName, digest: &Digest) -> String {
    format!("approvals/{env}/{bundle}/{}", digest.hex())
}

/// The pipeline file.
pub(crate) const PIPELINE: &str = "baton.toml";

/// Who may sign baton's commits; when present, every baton commit must be signed.
pub(crate) const ALLOWED_SIGNERS: &str = ".baton/allowed_signers";

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
}

impl View {
    /// Reads the branch head of `repo` and the pipeline there.
    pub fn open(repo: StateRepo) -> Result<View, PromoteError> {
        let snapshot = repo.head()?;
        let pipeline = load_pipeline(&repo, &snapshot)?;
        Ok(View { repo, snapshot, pipeline })
    }

    /// Reads the head again (after the branch moved).
    pub fn refresh(&mut self) -> Result<(), PromoteError> {
        self.snapshot = self.repo.head()?;
        self.pipeline = load_pipeline(&self.repo, &self.snapshot)?;
        Ok(())
    }

    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Result<&Environment, PromoteError> {
        name.parse::<EnvName>().ok().and_then(|n| self.pipeline.environment(&n)).ok_or_else(|| {
            PromoteError::UnknownEnvironment { env: name.to_owned(), known: self.pipeline.names() }
        })
    }

    /// Where an environment's store is: relative `oci:` paths are relative to the repository.
    pub fn store_location(&self, env: &Environment) -> StoreLocation {
        resolve_store(self.repo.paths_root(), &env.store)
    }

    /// Opens an environment's store.
    pub fn open_store(
        &self,
        env: &Environment,
        options: &RegistryOptions,
    ) -> Result<Store, PromoteError> {
        Ok(Store::open(&self.store_location(env), options)?)
    }

    /// A file at the snapshot, as text.
    pub fn read_text(&self, path: &str) -> Result<Option<String>, PromoteError> {
        let Some(bytes) = self.repo.read(&self.snapshot, path)? else {
            return Ok(None);
        };
        String::from_utf8(bytes).map(Some).map_err(|_| PromoteError::BadFile {
            file: path.into(),
            message: "is not UTF-8".into(),
        })
    }

    /// The pin of `bundle` in `env` at the snapshot.
    pub fn pin(
        &self,
        env: &EnvName,
        bundle: &BundleName,
    ) -> Result<Option<StateRecord>, PromoteError> {
        let path = state_path(env, bundle);
        let Some(bytes) = self.repo.read(&self.snapshot, &path)? else {
            return Ok(None);
        };
        parse_pin(&path, &bytes).map(Some)
    }

    /// Every pin in `env`, by bundle name: one listing of `state/<env>`, then each blob by id.
    pub fn pins_in(&self, env: &EnvName) -> Result<Vec<StateRecord>, PromoteError> {
        let dir = format!("state/{env}");
        let mut pins = Vec::new();
        for (name, is_dir, id) in self.repo.list(&self.snapshot, &dir)? {
            if is_dir || name.strip_suffix(".toml").is_none() {
                continue;
            }
            let record = parse_pin(&format!("{dir}/{name}"), &self.repo.blob(id)?)?;
            pins.push(record);
        }
        pins.sort_by(|a, b| a.bundle.cmp(&b.bundle));
        Ok(pins)
    }

    /// The bundles with a pin in `env`, sorted.
    pub fn pinned_bundles(&self, env: &EnvName) -> Result<Vec<BundleName>, PromoteError> {
        let mut names: Vec<BundleName> = self
            .repo
            .list(&self.snapshot, &format!("state/{env}"))?
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
    ) -> Result<Vec<ApprovalRecord>, PromoteError> {
        let dir = approvals_dir(env, bundle, digest);
        let mut found = Vec::new();
        for (name, is_dir, id) in self.repo.list(&self.snapshot, &dir)? {
            let Some(stem) = name.strip_suffix(".toml") else { continue };
            if is_dir {
                continue;
            }
            let path = format!("{dir}/{name}");
            let bytes = self.repo.blob(id)?;
            let record = std::str::from_utf8(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|t| ApprovalRecord::from_toml(t).map_err(|e| e.to_string()))
                .map_err(|message| PromoteError::BadFile { file: path.clone().into(), message })?;
            if record.by.as_str() != stem
                || record.digest != *digest
                || record.environment != *env
                || record.bundle != *bundle
            {
                return Err(PromoteError::BadFile {
                    file: path.into(),
                    message: "does not match its place (principal, environment, bundle, digest): it was not written by `baton approve`; remove it".into(),
                });
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
    ) -> Result<Vec<PinEvent>, PromoteError> {
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
    ) -> Result<(), PromoteError> {
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
        let text = |id: Option<ObjectId>| -> Result<String, PromoteError> {
            Ok(match id {
                Some(id) => String::from_utf8_lossy(&self.repo.blob(id)?).into_owned(),
                None => String::new(),
            })
        };
        let diff = similar::TextDiff::from_lines(&text(written)?, &text(current)?)
            .unified_diff()
            .header(&format!("a/{path} (as baton wrote it)"), &format!("b/{path} (now)"))
            .to_string();
        Err(PromoteError::HandEdited {
            path,
            commit: commit.map_or_else(|| "none (baton never wrote it)".into(), |c| c.to_string()),
            diff,
        })
    }

    /// `.baton/allowed_signers` at `tree`, if the repository has one there.
    pub fn allowed_signers_in(
        &self,
        tree: ObjectId,
    ) -> Result<Option<AllowedSigners>, PromoteError> {
        let Some(id) = self.repo.blob_id_in(tree, ALLOWED_SIGNERS)? else { return Ok(None) };
        let text = String::from_utf8_lossy(&self.repo.blob(id)?).into_owned();
        AllowedSigners::parse(&text).map(Some).map_err(|e| PromoteError::Signing(e.to_string()))
    }

    /// The key that signs this command's commit: `--sign-key`, else git's `user.signingkey`.
    /// Required, and required to be listed for `principal`, when `.baton/allowed_signers` exists.
    pub fn signing_key(
        &self,
        principal: &Principal,
        explicit: Option<&Path>,
    ) -> Result<Option<SigningKey>, PromoteError> {
        let signers = self.allowed_signers_in(self.snapshot.tree)?;
        let configured = self.repo.config_path("user.signingkey");
        let path = explicit.map(Path::to_path_buf).or(configured);
        let Some(path) = path else {
            if signers.is_some() {
                return Err(PromoteError::Signing(format!(
                    "this state repository requires signed commits ({ALLOWED_SIGNERS} exists): pass `--sign-key PATH` or set `git config user.signingkey PATH` to an SSH private key listed there for `{principal}`"
                )));
            }
            return Ok(None);
        };
        let key = SigningKey::load(&path).map_err(|e| PromoteError::Signing(e.to_string()))?;
        if let Some(signers) = signers
            && !signers.allows(principal.as_str(), key.public())
        {
            let listed = signers.principals_for(key.public());
            let why = if listed.is_empty() {
                "is not listed".to_owned()
            } else {
                format!("is listed for {}, not for `{principal}`", listed.join(", "))
            };
            return Err(PromoteError::Signing(format!(
                "signing key {} ({}) {why} in {ALLOWED_SIGNERS}: baton refuses to write a commit git would not verify; sign with a key listed for `{principal}`",
                key.fingerprint(),
                path.display()
            )));
        }
        Ok(Some(key))
    }

    /// What the signature of `commit` proves, against the allowed signers of that commit.
    pub fn signature_state(&self, commit: ObjectId) -> Result<SignatureState, PromoteError> {
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
    ) -> Result<SignatureState, PromoteError> {
        let Some(signature) = info.signature.as_deref() else {
            return Ok(SignatureState::Unsigned);
        };
        let payload = self.repo.signed_payload(info.id)?;
        Ok(match signers.check(Some(signature), &payload) {
            SignatureCheck::Good { principals, .. } => SignatureState::Good(principals),
            SignatureCheck::UnknownKey { fingerprint } => SignatureState::UnknownKey(fingerprint),
            SignatureCheck::Bad { reason } => SignatureState::Bad(reason),
            SignatureCheck::Unsigned => SignatureState::Unsigned,
        })
    }

    /// The commit that recorded `by`'s approval of `digest` for `env`, newest first.
    pub fn approval_commit(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        digest: &Digest,
        by: &Principal,
    ) -> Result<Option<ObjectId>, PromoteError> {
        let Some(tip) = self.snapshot.commit else { return Ok(None) };
        for info in self.repo.commits(tip)? {
            let info = info?;
            if let Some(Ok(t)) = Trailers::parse(&info.message)
                && t.action == Action::Approve
                && t.to == *env
                && t.bundle == *bundle
                && t.digest == *digest
                && t.by == *by
            {
                return Ok(Some(info.id));
            }
        }
        Ok(None)
    }

    /// The principal: `--as`, else git's `user.email`.
    pub fn principal(&self, as_: Option<&str>) -> Result<Principal, PromoteError> {
        let text = match as_ {
            Some(text) => text.to_owned(),
            None => self
                .repo
                .configured_identity()
                .map(|i| i.email)
                .filter(|e| !e.is_empty())
                .ok_or(PromoteError::NoPrincipal)?,
        };
        text.parse()
            .map_err(|e: baton_model::PrincipalError| PromoteError::BadPrincipal(e.to_string()))
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
    Good(Vec<String>),
    /// Valid, by a key not listed (fingerprint).
    UnknownKey(String),
    /// Invalid.
    Bad(String),
}

impl SignatureState {
    /// One word for tables: `unsigned`, `good`, `unknown-key`, `bad`.
    pub fn word(&self) -> &'static str {
        match self {
            SignatureState::Unsigned => "unsigned",
            SignatureState::Good(_) => "good",
            SignatureState::UnknownKey(_) => "unknown-key",
            SignatureState::Bad(_) => "bad",
        }
    }

    /// True when the signature is valid and its key is listed for `principal`.
    pub fn is_good_for(&self, principal: &str) -> bool {
        matches!(self, SignatureState::Good(principals) if principals.iter().any(|p| baton_state::principal_matches(p, principal)))
    }
}

/// Resolves a relative `oci:` path against the state repository.
pub fn resolve_store(root: &Path, store: &StoreLocation) -> StoreLocation {
    match store {
        StoreLocation::Layout(path) if path.is_relative() => StoreLocation::Layout(root.join(path)),
        other => other.clone(),
    }
}

fn load_pipeline(repo: &StateRepo, snapshot: &Snapshot) -> Result<Pipeline, PromoteError> {
    let file: PathBuf = repo.root().join(PIPELINE);
    let Some(bytes) = repo.read(snapshot, PIPELINE)? else {
        return Err(PromoteError::NoPipeline { repo: repo.root().to_owned() });
    };
    let text = String::from_utf8(bytes).map_err(|_| PromoteError::BadFile {
        file: file.clone(),
        message: "is not UTF-8".into(),
    })?;
    Pipeline::from_toml(&text).map_err(|source| PromoteError::Pipeline { file, source })
}

/// A pin's file, parsed; the error names the file and how to fix it.
fn parse_pin(path: &str, bytes: &[u8]) -> Result<StateRecord, PromoteError> {
    std::str::from_utf8(bytes)
        .map_err(|e| e.to_string())
        .and_then(|text| StateRecord::from_toml(text).map_err(|e| e.to_string()))
        .map_err(|message| PromoteError::BadFile {
            file: path.into(),
            message: format!(
                "{message}\nthis file is written only by baton: restore it from history"
            ),
        })
}

/// RFC 3339 in UTC.
pub fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

/// Seconds since the epoch now.
pub(crate) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
