//! Promotion, approval and rollback: each reads the branch head once, checks everything against
//! that commit, moves bytes first, and commits last with compare-and-swap. When the branch moved
//! meanwhile, it reads again and checks again.

use baton_model::{
    Action, ApprovalRecord, BundleName, Digest, EnvName, Environment, Principal, StateRecord,
    StoreLocation, Trailers,
};
use std::path::Path;

use baton_state::{FileChange, ObjectId, Signer, SigningKey, StateError};
use baton_store::{
    CopyReport, Progress, RegistryOptions, Store, copy_untagged, referrers::subject_of,
};
use serde::{Deserialize, Serialize};

use baton_model::layout::{self, ALLOWED_SIGNERS, PIPELINE};
use baton_view::{
    Evidence, GateOutcome, GateStores, View, evaluate, load_config, params_path, state_path,
};
use jiff::Timestamp;

use crate::{PromoteError, attest, renders::check_renders};

/// How often a command re-reads and retries when another writer moved the branch.
const ATTEMPTS: u32 = 32;

/// What to promote.
pub struct PromoteRequest<'a> {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment promoted to.
    pub to: String,
    /// An explicit digest (required for the first environment of a chain).
    pub digest: Option<Digest>,
    /// The store to copy from instead of the upstream environment's.
    pub from_store: Option<StoreLocation>,
    /// `--as`.
    pub as_: Option<String>,
    /// Accept a digest pinned upstream before but not now.
    pub allow_superseded: bool,
    /// Skip the gates, with this reason, where baton.toml allows it.
    pub break_glass: Option<String>,
    /// How registries are reached.
    pub options: &'a RegistryOptions,
    /// Transfer progress.
    pub progress: &'a Progress,
    /// The SSH key that signs the commit (default: git's `user.signingkey`).
    pub sign_key: Option<&'a Path>,
    /// Now: the instant the gates are evaluated at and the commit is dated.
    pub at: Timestamp,
}

/// What a promotion (or rollback) did.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Promotion {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The digest now pinned.
    pub digest: Digest,
    /// The bundle's version.
    pub version: String,
    /// promote, rollback or break-glass.
    pub action: Action,
    /// Where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<EnvName>,
    /// The store the bytes came from.
    pub source_store: String,
    /// The store the bytes are in now.
    pub store: String,
    /// The new commit, or `None` when the digest was already pinned.
    pub commit: Option<String>,
    /// The digest pinned before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Digest>,
    /// True when nothing had to change.
    pub no_op: bool,
    /// The gates as evaluated.
    pub gates: Vec<GateOutcome>,
    /// What the copy did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopySummary>,
    /// The promotion's attestation (a verification summary, in the environment's store), whose
    /// digest the pin records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Digest>,
    /// The rendering published for Flux and Argo CD (`publish = true`), tagged with the
    /// environment's name, whose digest the pin records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Digest>,
}

/// The copy's figures.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CopySummary {
    /// Blobs already there.
    pub blobs_skipped: u64,
    /// Blobs mounted or linked.
    pub blobs_mounted: u64,
    /// Blobs sent.
    pub blobs_uploaded: u64,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// Seconds.
    pub seconds: f64,
}

impl From<CopyReport> for CopySummary {
    fn from(r: CopyReport) -> CopySummary {
        CopySummary {
            blobs_skipped: r.blobs_skipped,
            blobs_mounted: r.blobs_mounted,
            blobs_uploaded: r.blobs_uploaded,
            bytes_uploaded: r.bytes_uploaded,
            seconds: r.seconds,
        }
    }
}

fn dirty_check(view: &View, env: &EnvName, bundle: &BundleName) -> Result<(), PromoteError> {
    let paths = vec![
        PIPELINE.to_owned(),
        ALLOWED_SIGNERS.to_owned(),
        params_path(env, bundle),
        state_path(env, bundle),
    ];
    let dirs = vec![layout::bundle_approvals_dir(env, bundle)];
    let dirty = view.repo.settled_dirty_paths(&view.snapshot, &paths, &dirs)?;
    if dirty.is_empty() {
        Ok(())
    } else {
        Err(StateError::Dirty { repo: view.repo.root().to_owned(), paths: dirty }.into())
    }
}

/// The pauses of one writer between its attempts at the branch. A pause is drawn at random
/// below a ceiling that starts at how long this writer's last commit and push took (the time one
/// landing holds the branch, as this machine and this server see it) and doubles with each
/// attempt, up to 5 s. With n writers at once each round lets one land; pauses that grow apart
/// keep the losers from all retrying in every round, each retry taking CPU and server time from
/// the writer about to land.
struct Backoff {
    held: std::time::Duration,
}

impl Backoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(50);
    const CAP: std::time::Duration = std::time::Duration::from_secs(5);

    fn new() -> Backoff {
        Backoff { held: Backoff::FIRST }
    }

    /// Runs one commit and push, remembering how long it took.
    fn timed<T>(&mut self, attempt: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let result = attempt();
        self.held = started.elapsed().max(Backoff::FIRST);
        result
    }

    /// Sleeps before attempt number `attempt` (2 and on).
    fn pause(&self, attempt: u32) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let ceiling =
            self.held.saturating_mul(1 << attempt.saturating_sub(2).min(8)).min(Backoff::CAP);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        std::thread::sleep(std::time::Duration::from_millis(u64::from(nanos) % (millis + 1)));
    }
}

/// True when `result` says the branch moved (the caller reads it again and retries); its other
/// errors pass.
fn moved(result: Result<(), PromoteError>) -> Result<bool, PromoteError> {
    match result {
        Ok(()) => Ok(false),
        Err(PromoteError::State(StateError::Moved { .. } | StateError::PushRejected { .. })) => {
            Ok(true)
        }
        Err(other) => Err(other),
    }
}

/// Where the digest comes from, decided at one view.
struct Source {
    digest: Digest,
    from: Option<EnvName>,
    store: Store,
    /// How the store is recorded: an environment's store as baton.toml writes it, or
    /// `--from-store` with a layout path made absolute (it was relative to the caller's directory).
    label: String,
}

/// What a promotion put into the environment's store before its commit.
struct Stored {
    report: CopyReport,
    /// The promotion summary's digest.
    attestation: Option<Digest>,
    /// The published rendering's digest (`publish = true`).
    published: Option<Digest>,
}

/// Copies the bundle into `target` (unless this promotion copied it already), writes its
/// `summary` beside it and, where the environment publishes, its rendering, at once, since none
/// reads another (a registry's writes are slow, not heavy): all are in the store before the pin
/// names them.
fn copy_and_attest(
    source: &Source,
    (bundle, env, params): (&BundleName, &Environment, &baton_view::CheckedParams),
    target: &Store,
    summary: Option<&attest::Prepared>,
    copied: &mut Option<(Digest, CopyReport)>,
    request: &PromoteRequest<'_>,
) -> Result<Stored, PromoteError> {
    let subject = subject_of(&source.store, bundle, &source.digest)?;
    std::thread::scope(|scope| {
        let written =
            summary.map(|summary| scope.spawn(|| summary.write(target, bundle, &subject)));
        let published = env.publish.then(|| {
            scope.spawn(|| {
                let stores = (&source.store, target);
                publish_untagged(stores, (bundle, &source.digest), env, params, request.progress)
            })
        });
        let report = match copied {
            Some((digest, report)) if *digest == source.digest => report.clone(),
            _ => {
                // By digest only: the version tag moves once the pin is committed, in the order
                // of the commits, so that it names what the pin names.
                let report =
                    copy_untagged(&source.store, bundle, &source.digest, target, request.progress)?;
                copied.insert((source.digest.clone(), report)).1.clone()
            }
        };
        let attestation = written
            .map(|w| w.join().expect("holds because writing a summary does not panic"))
            .transpose()?;
        let published = published
            .map(|p| p.join().expect("holds because publishing does not panic"))
            .transpose()?;
        Ok(Stored { report, attestation, published })
    })
}

fn resolve_source(
    view: &View,
    env: &Environment,
    request: &PromoteRequest<'_>,
) -> Result<Source, PromoteError> {
    let upstream = env.upstream.as_ref().map(|u| view.environment(u.as_str())).transpose()?;
    // The pin records the store so that it means the same on every machine: a layout relative
    // to the work tree (as baton.toml's stores are), a registry normalised.
    let given = |location: &StoreLocation| -> Result<(Store, String), PromoteError> {
        let location = match location {
            StoreLocation::Layout(path) => StoreLocation::Layout(std::path::absolute(path)?),
            other @ StoreLocation::Registry { .. } => other.clone(),
        };
        let base = std::path::absolute(view.repo.paths_root())?;
        Ok((Store::open(&location, request.options)?, location.recorded(&base)))
    };
    let of_env = |env: &Environment| -> Result<(Store, String), PromoteError> {
        Ok((view.open_store(env, request.options)?, env.store.to_string()))
    };
    let (digest, from) = match (&request.digest, upstream) {
        (Some(digest), upstream) => (digest.clone(), upstream),
        (None, None) => return Err(PromoteError::NoUpstream { env: env.name.clone() }),
        (None, Some(up)) => {
            let pin = view.pin(&up.name, &request.bundle)?.ok_or_else(|| {
                PromoteError::NothingUpstream {
                    env: env.name.clone(),
                    upstream: up.name.clone(),
                    bundle: request.bundle.clone(),
                }
            })?;
            (pin.digest, Some(up))
        }
    };
    let (store, label) = match (&request.from_store, from) {
        (Some(location), _) => given(location)?,
        (None, Some(up)) => of_env(up)?,
        (None, None) => return Err(PromoteError::NoSourceStore { env: env.name.clone() }),
    };
    Ok(Source { digest, from: from.map(|u| u.name.clone()), store, label })
}

/// Promotes `request.bundle` into `request.to`: resolve the digest, load the bundle config,
/// check params and gates, copy, commit with compare-and-swap; again from the top when the
/// branch moved. A digest already pinned there is a no-op.
/// (One attempt reads, checks, copies and commits in that order; it stays one function so the order
/// that makes it safe reads top to bottom.)
#[allow(clippy::too_many_lines)]
pub fn promote(view: &mut View, request: &PromoteRequest<'_>) -> Result<Promotion, PromoteError> {
    let mut copied: Option<(Digest, CopyReport)> = None;
    let mut backoff = Backoff::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            backoff.pause(attempt);
            view.refresh()?;
        }
        let at = effective_at(view, request.at)?;
        let env = view.environment(&request.to)?.clone();
        let bundle = &request.bundle;
        if moved(dirty_check(view, &env.name, bundle))? {
            continue;
        }
        pins_as_written(view, &env, bundle)?;
        let principal = view.principal(request.as_.as_deref())?;
        let key = view.signing_key(&principal, request.sign_key, at)?;
        let current = view.pin(&env.name, bundle)?;
        let source = resolve_source(view, &env, request)?;
        let target = view.open_store(&env, request.options)?;
        let config = load_config(&source.store, bundle, &source.digest)?;
        let checked = view.checked_params(&env.name, bundle, &config)?;
        let action =
            if request.break_glass.is_some() { Action::BreakGlass } else { Action::Promote };
        let outcome = |commit: Option<String>,
                       gates: Vec<GateOutcome>,
                       copy: Option<CopySummary>| Promotion {
            bundle: bundle.clone(),
            environment: env.name.clone(),
            digest: source.digest.clone(),
            version: config.version.to_string(),
            action,
            from: source.from.clone(),
            source_store: source.label.clone(),
            store: env.store.to_string(),
            no_op: commit.is_none(),
            commit,
            previous: current.as_ref().map(|c| c.digest.clone()),
            gates,
            copy,
            attestation: None,
            published: None,
        };
        // A rerun of a finished promotion is a no-op, whatever the gates say now.
        if current
            .as_ref()
            .is_some_and(|c| c.digest == source.digest && c.params_digest == checked.digest)
        {
            return Ok(outcome(None, Vec::new(), None));
        }
        let signer = key.as_ref().map(SigningKey::fingerprint);
        let (gates, evidence) =
            check_gates(view, (&env, &checked), request, &source, (&principal, signer), at)?;
        // Bytes first, and the attestation of what the gates found beside them: the pin never
        // names what is not wholly in the target store.
        let summary = attest::prepare(
            view,
            &env,
            (bundle, &source.digest),
            evidence.as_ref(),
            key.as_ref(),
            at,
        )?;
        let staged = (bundle, &env, &checked);
        let stored =
            copy_and_attest(&source, staged, &target, summary.as_ref(), &mut copied, request)?;
        let (signatures, verifications) =
            summary.map(|s| (s.signatures, s.verifications)).unwrap_or_default();
        let record = StateRecord {
            bundle: bundle.clone(),
            environment: env.name.clone(),
            digest: source.digest.clone(),
            version: config.version.clone(),
            params_digest: checked.digest.clone(),
            action,
            from: source.from.clone(),
            source_store: source.label.clone(),
            by: principal.clone(),
            at: whole_seconds(at),
            previous: current.as_ref().map(|c| c.digest.clone()),
            reason: request.break_glass.clone(),
            signatures,
            attestation: stored.attestation.clone(),
            verifications,
            published: stored.published.clone(),
        };
        let from_label =
            source.from.as_ref().map_or_else(|| source.label.clone(), ToString::to_string);
        let pinned = (bundle, &source.digest, &config.version, stored.published.as_ref());
        let tag = |_| tag_after_commit(&target, &env.name, pinned);
        let time = at.as_second();
        match backoff.timed(|| pin_commit(view, &record, from_label, time, key.as_ref(), &tag)) {
            Ok(id) => {
                let done = outcome(Some(id), gates, Some(stored.report.into()));
                return Ok(Promotion {
                    attestation: stored.attestation,
                    published: stored.published,
                    ..done
                });
            }
            Err(PromoteError::State(
                StateError::Moved { .. } | StateError::PushRejected { .. },
            )) => {
                tracing::info!(attempt, "the state branch moved; reading it again");
            }
            Err(other) => return Err(other),
        }
    }
    Err(PromoteError::Contended { attempts: ATTEMPTS })
}

/// Both pins a promotion reads (the environment's and its upstream's) must be as baton wrote
/// them.
fn pins_as_written(
    view: &View,
    env: &Environment,
    bundle: &BundleName,
) -> Result<(), PromoteError> {
    view.check_not_hand_edited(&env.name, bundle)?;
    if let Some(upstream) = &env.upstream {
        view.check_not_hand_edited(upstream, bundle)?;
    }
    Ok(())
}

/// Every gate, and the evidence they were evaluated on, or the refusal listing each that
/// fails; no gates and no evidence with break-glass (where allowed).
fn check_gates(
    view: &View,
    (env, params): (&Environment, &baton_view::CheckedParams),
    request: &PromoteRequest<'_>,
    source: &Source,
    promoter: (&Principal, Option<String>),
    now: Timestamp,
) -> Result<(Vec<GateOutcome>, Option<Evidence>), PromoteError> {
    if request.break_glass.is_some() {
        if !env.gates.break_glass {
            return Err(PromoteError::BreakGlassNotAllowed { env: env.name.clone() });
        }
        return Ok((Vec::new(), None));
    }
    let digest = &source.digest;
    // The bundle must render where it goes, before any byte moves (break-glass skips it).
    check_renders(&source.store, env, &request.bundle, digest, params)?;
    // The upstream's store holds the attestation its pin records: it is the source store unless
    // `--from-store` names another.
    let upstream_store = match (&env.upstream, &request.from_store) {
        (Some(up), Some(_)) => {
            Some(view.open_store(view.environment(up.as_str())?, request.options)?)
        }
        _ => None,
    };
    let stores = GateStores {
        source: &source.store,
        upstream: env.upstream.as_ref().map(|_| upstream_store.as_ref().unwrap_or(&source.store)),
        at: now,
    };
    let subject = (&request.bundle, digest);
    let evidence = view.gate_evidence(env, subject, promoter, request.allow_superseded, &stores)?;
    let gates = evaluate(env, &request.bundle, digest, &evidence, now);
    if gates.iter().all(|g| g.held) {
        Ok((gates, Some(evidence)))
    } else {
        Err(PromoteError::Refused {
            bundle: request.bundle.clone(),
            env: env.name.clone(),
            digest: digest.clone(),
            gates,
        })
    }
}

/// Commits a pin with its trailers; the subject says what happened.
fn pin_commit(
    view: &View,
    record: &StateRecord,
    from: String,
    time: i64,
    key: Option<&SigningKey>,
    then: &dyn Fn(ObjectId) -> Result<(), String>,
) -> Result<String, PromoteError> {
    let trailers = Trailers {
        action: record.action,
        bundle: record.bundle.clone(),
        digest: record.digest.clone(),
        from: Some(from),
        to: record.environment.clone(),
        version: Some(record.version.clone()),
        by: record.by.clone(),
        params: Some(record.params_digest.clone()),
        previous: record.previous.clone(),
        reason: record.reason.clone(),
    };
    let subject = format!(
        "{} {} {} to {} ({})",
        record.action,
        record.bundle,
        record.version,
        record.environment,
        record.digest.short()
    );
    commit(
        view,
        &record.by,
        &trailers.message(&subject),
        time,
        FileChange {
            path: state_path(&record.environment, &record.bundle),
            content: Some(record.to_toml().into_bytes()),
        },
        key,
        then,
    )
}

fn commit(
    view: &View,
    principal: &Principal,
    message: &str,
    time: i64,
    change: FileChange,
    key: Option<&SigningKey>,
    then: &dyn Fn(ObjectId) -> Result<(), String>,
) -> Result<String, PromoteError> {
    let identity = view.identity(principal);
    let sign = key.map(|key| move |payload: &[u8]| key.sign(payload));
    let signer: Option<Signer<'_>> = sign.as_ref().map(|f| f as Signer<'_>);
    let id =
        view.repo.commit_then(&view.snapshot, &[change], message, &identity, time, signer, then)?;
    Ok(id.to_string())
}

/// What to approve.
pub struct ApproveRequest<'a> {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment the digest may then be promoted to.
    pub env: String,
    /// The digest; default: what the environment's upstream pins now.
    pub digest: Option<Digest>,
    /// `--as`.
    pub as_: Option<String>,
    /// A comment.
    pub comment: Option<String>,
    /// The SSH key that signs the commit (default: git's `user.signingkey`).
    pub sign_key: Option<&'a Path>,
    /// Now: the instant the commit is dated.
    pub at: Timestamp,
}

/// What an approval did.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Approval {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The approved digest.
    pub digest: Digest,
    /// Who approved.
    pub by: Principal,
    /// The commit, or `None` when this principal had approved already.
    pub commit: Option<String>,
    /// True when nothing had to change.
    pub no_op: bool,
}

/// Records that a principal approves a digest for an environment.
/// (One attempt reads, checks and commits in that order; it stays one function so the compare-and-
/// swap retry reads top to bottom.)
pub fn approve(view: &mut View, request: &ApproveRequest<'_>) -> Result<Approval, PromoteError> {
    let mut backoff = Backoff::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            backoff.pause(attempt);
            view.refresh()?;
        }
        let at = effective_at(view, request.at)?;
        let env = view.environment(&request.env)?.clone();
        let bundle = &request.bundle;
        let principal = view.principal(request.as_.as_deref())?;
        let key = view.signing_key(&principal, request.sign_key, at)?;
        let digest = if let Some(digest) = &request.digest {
            digest.clone()
        } else {
            {
                let upstream = env
                    .upstream
                    .clone()
                    .ok_or_else(|| PromoteError::NoUpstream { env: env.name.clone() })?;
                view.pin(&upstream, bundle)?
                    .ok_or_else(|| PromoteError::NothingUpstream {
                        env: env.name.clone(),
                        upstream: upstream.clone(),
                        bundle: bundle.clone(),
                    })?
                    .digest
            }
        };
        let path = baton_model::StatePath::Approval {
            env: env.name.clone(),
            bundle: bundle.clone(),
            digest: digest.clone(),
            principal: principal.clone(),
        }
        .to_path();
        let dirty =
            match view.repo.settled_dirty_paths(&view.snapshot, std::slice::from_ref(&path), &[]) {
                Err(StateError::Moved { .. } | StateError::PushRejected { .. }) => continue,
                other => other?,
            };
        if !dirty.is_empty() {
            return Err(
                StateError::Dirty { repo: view.repo.root().to_owned(), paths: dirty }.into()
            );
        }
        let outcome = |commit: Option<String>| Approval {
            bundle: bundle.clone(),
            environment: env.name.clone(),
            digest: digest.clone(),
            by: principal.clone(),
            no_op: commit.is_none(),
            commit,
        };
        if view.approvals(&env.name, bundle, &digest)?.iter().any(|a| a.by == principal) {
            return Ok(outcome(None));
        }
        let time = at.as_second();
        let record = ApprovalRecord {
            bundle: bundle.clone(),
            environment: env.name.clone(),
            digest: digest.clone(),
            by: principal.clone(),
            at: whole_seconds(at),
            comment: request.comment.clone(),
        };
        let trailers = Trailers {
            action: Action::Approve,
            bundle: bundle.clone(),
            digest: digest.clone(),
            from: None,
            to: env.name.clone(),
            version: None,
            by: principal.clone(),
            params: None,
            previous: None,
            reason: None,
        };
        let subject = format!("approve {bundle} {} for {}", digest.short(), env.name);
        let change =
            FileChange { path: path.clone(), content: Some(record.to_toml().into_bytes()) };
        let message = trailers.message(&subject);
        match backoff
            .timed(|| commit(view, &principal, &message, time, change, key.as_ref(), &|_| Ok(())))
        {
            Ok(id) => return Ok(outcome(Some(id))),
            Err(PromoteError::State(
                StateError::Moved { .. } | StateError::PushRejected { .. },
            )) => {}
            Err(other) => return Err(other),
        }
    }
    Err(PromoteError::Contended { attempts: ATTEMPTS })
}

/// What to roll back.
pub struct RollbackRequest<'a> {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub env: String,
    /// The digest to go back to; default: the one pinned before the current one.
    pub to: Option<Digest>,
    /// `--as`.
    pub as_: Option<String>,
    /// How registries are reached.
    pub options: &'a RegistryOptions,
    /// The SSH key that signs the commit (default: git's `user.signingkey`).
    pub sign_key: Option<&'a Path>,
    /// Now: the instant the commit is dated.
    pub at: Timestamp,
    /// Why: recorded in the pin and its commit's `Baton-Reason` trailer, shown by `status`
    /// and `history` (an incident number, what broke).
    pub reason: Option<String>,
}

/// Re-pins a digest the environment held before, recorded as a rollback. The bytes must still be
/// in the environment's store; gates do not apply, params are checked.
pub fn rollback(view: &mut View, request: &RollbackRequest<'_>) -> Result<Promotion, PromoteError> {
    let mut backoff = Backoff::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            backoff.pause(attempt);
            view.refresh()?;
        }
        let at = effective_at(view, request.at)?;
        let env = view.environment(&request.env)?.clone();
        let bundle = &request.bundle;
        if moved(dirty_check(view, &env.name, bundle))? {
            continue;
        }
        view.check_not_hand_edited(&env.name, bundle)?;
        let principal = view.principal(request.as_.as_deref())?;
        let key = view.signing_key(&principal, request.sign_key, at)?;
        let current = view.pin(&env.name, bundle)?;
        let held = view.pin_events(|t| t.to == env.name && t.bundle == *bundle, usize::MAX)?;
        let digest = match &request.to {
            Some(digest) => {
                if !held.iter().any(|e| e.trailers.digest == *digest) {
                    return Err(PromoteError::NeverPinned {
                        env: env.name.clone(),
                        bundle: bundle.clone(),
                        digest: digest.clone(),
                    });
                }
                digest.clone()
            }
            None => held
                .iter()
                .map(|e| &e.trailers.digest)
                .find(|d| current.as_ref().is_none_or(|c| c.digest != **d))
                .cloned()
                .ok_or_else(|| PromoteError::NothingToRollBack {
                    env: env.name.clone(),
                    bundle: bundle.clone(),
                })?,
        };
        let store = view.open_store(&env, request.options)?;
        let config = load_config(&store, bundle, &digest)?;
        let checked = view.checked_params(&env.name, bundle, &config)?;
        let params = checked.digest.clone();
        let time = at.as_second();
        let outcome = |commit: Option<String>| Promotion {
            bundle: bundle.clone(),
            environment: env.name.clone(),
            digest: digest.clone(),
            version: config.version.to_string(),
            action: Action::Rollback,
            from: None,
            source_store: env.store.to_string(),
            store: env.store.to_string(),
            no_op: commit.is_none(),
            commit,
            previous: current.as_ref().map(|c| c.digest.clone()),
            gates: Vec::new(),
            copy: None,
            attestation: None,
            published: None,
        };
        if current.as_ref().is_some_and(|c| c.digest == digest && c.params_digest == params) {
            // Repeating a rollback repairs a tag the first one could not move.
            retag(&store, bundle, &digest, &config.version)?;
            return Ok(outcome(None));
        }
        // Where the environment publishes, the rendering rolls back with the pin (a Flux or
        // Argo CD following the tag goes back too).
        // Within one store nothing is copied, so there is no transfer to show.
        let quiet: baton_store::Progress = std::sync::Arc::new(|_| {});
        let published = env
            .publish
            .then(|| publish_untagged((&store, &store), (bundle, &digest), &env, &checked, &quiet))
            .transpose()?;
        let record = StateRecord {
            bundle: bundle.clone(),
            environment: env.name.clone(),
            digest: digest.clone(),
            version: config.version.clone(),
            params_digest: params.clone(),
            action: Action::Rollback,
            from: None,
            source_store: env.store.to_string(),
            by: principal.clone(),
            at: whole_seconds(at),
            previous: current.as_ref().map(|c| c.digest.clone()),
            reason: request.reason.clone(),
            signatures: Vec::new(),
            attestation: None,
            verifications: Vec::new(),
            published: published.clone(),
        };
        let pinned = (bundle, &digest, &config.version, published.as_ref());
        let tag = |_| tag_after_commit(&store, &env.name, pinned);
        match backoff
            .timed(|| pin_commit(view, &record, env.name.to_string(), time, key.as_ref(), &tag))
        {
            Ok(id) => return Ok(Promotion { published, ..outcome(Some(id)) }),
            Err(PromoteError::State(
                StateError::Moved { .. } | StateError::PushRejected { .. },
            )) => {}
            Err(other) => return Err(other),
        }
    }
    Err(PromoteError::Contended { attempts: ATTEMPTS })
}

/// Points the version tag in the environment's store at the digest now pinned, as a promotion's
/// copy does: after a rollback the tag names what the pin names, so a history made only of
/// baton commands audits clean (a rebuilt version may have moved the tag to other bytes).
fn retag(
    store: &Store,
    bundle: &BundleName,
    digest: &Digest,
    version: &baton_model::Version,
) -> Result<(), PromoteError> {
    let bytes = store.read_manifest(bundle, digest)?;
    store.put_manifest(bundle, &bytes, Some(&version.to_string()))?;
    Ok(())
}

/// The environment's rendering of `digest`, read from `source`, published into `target`
/// untagged: the tag moves after the commit, with the version tag.
fn publish_untagged(
    (source, target): (&Store, &Store),
    (bundle, digest): (&BundleName, &Digest),
    env: &Environment,
    params: &baton_view::CheckedParams,
    progress: &baton_store::Progress,
) -> Result<Digest, PromoteError> {
    let published = baton_build::publish(&baton_build::PublishRequest {
        source,
        bundle,
        digest,
        env,
        values: &params.values,
        params_digest: &params.digest,
        target,
        tag: None,
        progress,
    })?;
    Ok(published.digest)
}

/// [`retag`] as a commit's follow-up: its failure is text for the warning.
fn tag_after_commit(
    store: &Store,
    env: &EnvName,
    (bundle, digest, version, published): (
        &BundleName,
        &Digest,
        &baton_model::Version,
        Option<&Digest>,
    ),
) -> Result<(), String> {
    retag(store, bundle, digest, version).map_err(|e| {
        format!(
            "the version tag {version} in `{}` could not be moved to {digest} ({e}): run `baton rollback {bundle} --env {env} --to {digest}` to repair it",
            store.label()
        )
    })?;
    let Some(published) = published else { return Ok(()) };
    store
        .read_manifest(bundle, published)
        .and_then(|bytes| store.put_manifest(bundle, &bytes, Some(env.as_str())))
        .map(drop)
        .map_err(|e| {
            format!(
                "the tag {env} in `{}` could not be moved to the published rendering {published} ({e}): run `baton publish {env} {bundle}` to repair it",
                store.label()
            )
        })
}

/// How far the branch head may be dated after this machine's clock before baton refuses to
/// write: a concurrent writer's commit can land a second after this command read the clock.
const CLOCK_ALLOWANCE_SECONDS: i64 = 300;

/// The instant a write is decided and dated at: now, or the branch head's date when that is
/// up to [`CLOCK_ALLOWANCE_SECONDS`] later, so commit dates never go backwards and the gates are
/// evaluated at the date the commit will carry (the audit recomputes them there). A head dated
/// further ahead is refused: one of the two clocks is wrong.
fn effective_at(view: &View, now: Timestamp) -> Result<Timestamp, PromoteError> {
    let Some(head) = view.snapshot.commit else { return Ok(now) };
    let head_time = view.repo.commit_info(head)?.time;
    let seconds = head_time - now.as_second();
    if seconds > CLOCK_ALLOWANCE_SECONDS {
        return Err(PromoteError::HeadInTheFuture {
            commit: head.to_string(),
            head: baton_view::commit_time(head_time),
            now,
            seconds,
            allowance: CLOCK_ALLOWANCE_SECONDS,
        });
    }
    Ok(if seconds > 0 { baton_view::commit_time(head_time) } else { now })
}

/// `at` to the second, as commits and records keep it.
fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).expect("holds because it came from a Timestamp")
}
