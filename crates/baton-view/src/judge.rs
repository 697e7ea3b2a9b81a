//! The history, oldest commit first: every change under `state/` and `approvals/` must be a
//! well-formed baton commit, signed where signers are required; every pinned digest must have
//! passed the environment's upstream (or be a rollback to one it held, or a recorded
//! break-glass); the gates are recomputed as `baton.toml` stood at each promotion.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use baton_model::{
    Action, ApprovalRecord, BundleName, Digest, Dir, EnvName, Pipeline, Principal, StatePath,
    StateRecord, StoreLocation, Trailers,
};
use baton_state::{AllowedSigners, CommitInfo, ObjectId, Snapshot};

mod findings;

pub use findings::{ApprovalEvidence, Check, Event, Finding, Severity};

use crate::{
    Evidence, GateOutcome, RecordedApproval, Signature, SignatureState, SignedEvidence,
    TrustedKeys, UpstreamEvidence, View, ViewError, commit_time, evaluate, params_digest,
    params_path,
};
use baton_model::layout::TRUSTED_KEYS;

/// What part of the history is judged: one environment, one bundle, commits since a time.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Only this environment.
    pub env: Option<EnvName>,
    /// Only this bundle.
    pub bundle: Option<BundleName>,
    /// Only commits at or after this time (seconds since the epoch); earlier ones are still
    /// walked, for the chain and the gates, but not reported.
    pub since: Option<i64>,
}

impl Scope {
    fn covers(&self, env: &EnvName, bundle: &BundleName) -> bool {
        self.env.as_ref().is_none_or(|e| e == env)
            && self.bundle.as_ref().is_none_or(|b| b == bundle)
    }
}

/// What the walk learned, for the present checks and the report.
#[derive(Default)]
pub struct History {
    /// Commits walked.
    pub commits: usize,
    /// Every commit reachable from the tip, with its root tree.
    pub trees: HashMap<ObjectId, ObjectId>,
    /// Findings of the history, in commit order.
    pub findings: Vec<Finding>,
    /// Pin changes in scope, oldest first.
    pub timeline: Vec<Event>,
    /// Every digest ever pinned, with the store it was pinned in (for `--deep`).
    pub ever: BTreeMap<(EnvName, BundleName, Digest), StoreLocation>,
    /// Per environment and bundle, every digest it held and when it was last pinned.
    held: HashMap<(EnvName, BundleName), BTreeMap<Digest, i64>>,
    /// Per environment and bundle, the digest pinned last.
    current: HashMap<(EnvName, BundleName), Digest>,
    /// Per environment, bundle and digest, the approvals recorded so far, by principal, as
    /// the gate evaluator weighs them (`invalid`: not written by baton, not signed, …).
    approvals: HashMap<(EnvName, BundleName, Digest), BTreeMap<Principal, RecordedApproval>>,
}

/// One file under `state/` or `approvals/` that a commit changed.
struct Change {
    path: String,
    after: Option<ObjectId>,
}

/// Walks the history behind the view's commit.
/// (Long because one pass over the commits keeps the caches (pipeline, signers, trees) that make a
/// 20,000-commit audit linear.)
pub fn walk(view: &View, scope: &Scope) -> Result<History, ViewError> {
    let tip = view.snapshot.commit.expect("holds because View::open requires a commit");
    let mut commits: Vec<CommitInfo> = view.repo.commits(tip)?.collect::<Result<_, _>>()?;
    commits.reverse();
    let mut history = History {
        commits: commits.len(),
        trees: commits.iter().map(|c| (c.id, c.tree)).collect(),
        ..History::default()
    };
    let times: HashMap<ObjectId, i64> = commits.iter().map(|c| (c.id, c.time)).collect();
    let (mut pipelines, mut signers, mut trusted) =
        (Cached::default(), Cached::default(), Cached::default());
    for info in &commits {
        if scope.since.is_none_or(|since| info.time >= since)
            && let Some(finding) = dated_before_parent(info, &times)
        {
            history.findings.push(finding);
        }
        let snapshot = Snapshot { commit: Some(info.id), tree: info.tree };
        // The first parent is in the walk already (it is reachable): no need to decode it again.
        let parent = match info.parents.first().map(|p| (p, history.trees.get(p))) {
            Some((p, Some(tree))) => Some(Snapshot { commit: Some(*p), tree: *tree }),
            // A shallow clone: the parent is not here, so what this commit changed is unknown.
            Some((p, None)) => {
                history.findings.push(shallow(info, p));
                continue;
            }
            None => None,
        };
        let changes =
            merged_in(view, info, &history, state_changes(view, parent.as_ref(), &snapshot)?)?;
        if changes.is_empty() {
            continue;
        }
        // A `baton.toml` that does not parse leaves the gates of this commit unknown; an
        // allowed-signers file that does not parse still requires signatures, and lists no key.
        let parsed = pipelines.get(view, info.tree, "baton.toml", |text| {
            Pipeline::from_toml(text).map_err(|e| e.to_string().replace('\n', " "))
        })?;
        if scope.since.is_none_or(|since| info.time >= since)
            && let Some(finding) = unreadable_pipeline(info, parsed)
        {
            history.findings.push(finding);
        }
        let pipeline = parsed.and_then(|parsed| parsed.as_ref().ok());
        let signers = signers.get(view, info.tree, ".baton/allowed_signers", |text| {
            AllowedSigners::parse(text).map_err(|e| e.to_string())
        })?;
        let context = CommitContext {
            view,
            info,
            first_line: info.message.lines().next().unwrap_or_default().to_owned(),
            trailers: Trailers::parse(&info.message).and_then(Result::ok),
            pipeline,
            signers,
            trusted: trusted_keys(&mut trusted, view, info.tree)?,
            signature: std::cell::OnceCell::new(),
            changed: changes.len(),
            elsewhere: changed_elsewhere(view, parent.as_ref(), &snapshot)?,
            snapshot,
        };
        let since = scope.since.is_none_or(|since| info.time >= since);
        for change in &changes {
            let mut findings = Vec::new();
            let place = StatePath::parse(&change.path);
            // Every environment of a bundle in scope is judged, since a pin's chain and gates
            // depend on what its upstream held; only the environments in scope are reported.
            let reported = match &place {
                Some(StatePath::Pin { env, bundle } | StatePath::Approval { env, bundle, .. }) => {
                    if scope.bundle.as_ref().is_some_and(|b| b != bundle) {
                        continue;
                    }
                    since && scope.covers(env, bundle)
                }
                _ => since && scope.env.is_none() && scope.bundle.is_none(),
            };
            if let Some(StatePath::Pin { env, bundle }) = &place {
                let event = context.pin(env, bundle, change, &mut history, &mut findings)?;
                if let (true, Some(mut event)) = (reported, event) {
                    event.findings =
                        findings.iter().filter(|f| f.severity == Severity::Error).count();
                    history.timeline.push(event);
                }
            } else if let Some(StatePath::Approval { env, bundle, digest, principal }) = &place {
                context.approval(
                    (env, bundle, digest, principal),
                    change,
                    &mut history,
                    &mut findings,
                )?;
            } else {
                findings.push(Finding {
                    severity: Severity::Error,
                    check: Check::HandEdit,
                    environment: None,
                    bundle: None,
                    commit: Some(info.id.to_string()),
                    expected: "only pins (`state/ENV/BUNDLE.toml`) and approvals (`approvals/ENV/BUNDLE/DIGEST/PRINCIPAL.toml`) under state/ and approvals/".into(),
                    found: format!("`{}` changed (\"{}\")", change.path, context.first_line),
                });
            }
            if reported {
                history.findings.extend(findings);
            }
        }
    }
    Ok(history)
}

/// `.baton/trusted_keys.toml` at `tree`, through the walk's cache: empty when there is none.
fn trusted_keys(
    cache: &mut Cached<TrustedKeys>,
    view: &View,
    tree: ObjectId,
) -> Result<Result<TrustedKeys, String>, ViewError> {
    let parsed = cache.get(view, tree, TRUSTED_KEYS, |text| {
        TrustedKeys::parse(text).map_err(|e| format!("`{TRUSTED_KEYS}`: {e}"))
    })?;
    Ok(parsed.cloned().unwrap_or_else(|| Ok(TrustedKeys::default())))
}

/// The finding of a shallow history: `info`'s parent is missing, so neither that commit nor
/// anything before it can be judged.
fn shallow(info: &CommitInfo, parent: &ObjectId) -> Finding {
    Finding {
        severity: Severity::Error,
        check: Check::Shallow,
        environment: None,
        bundle: None,
        commit: Some(info.id.to_string()),
        expected: "the whole history of the branch".into(),
        found: format!(
            "a shallow clone: parent {parent} is missing, so this commit and every one before it cannot be judged; run `git fetch --unshallow` and audit again"
        ),
    }
}

/// A `pipeline` finding when a commit that changes pins or approvals has no `baton.toml` that
/// parses: its gates cannot be recomputed.
fn unreadable_pipeline(
    info: &CommitInfo,
    parsed: Option<&Result<Pipeline, String>>,
) -> Option<Finding> {
    let problem = match parsed {
        Some(Ok(_)) => return None,
        Some(Err(problem)) => problem.clone(),
        None => "there is none".to_owned(),
    };
    Some(Finding {
        severity: Severity::Error,
        check: Check::Pipeline,
        environment: None,
        bundle: None,
        commit: Some(info.id.to_string()),
        expected: "a baton.toml that parses at a commit that changes pins or approvals".into(),
        found: format!(
            "baton.toml: {problem}; the gates of what this commit changed cannot be recomputed"
        ),
    })
}

/// A `clock` finding when `info` is dated before its first parent.
fn dated_before_parent(info: &CommitInfo, times: &HashMap<ObjectId, i64>) -> Option<Finding> {
    let parent = info.parents.first()?;
    let before = *times.get(parent)?;
    (info.time < before).then(|| Finding {
        severity: Severity::Error,
        check: Check::Clock,
        environment: None,
        bundle: None,
        commit: Some(info.id.to_string()),
        expected: format!("a commit dated at or after its parent {parent} ({})", commit_time(before)),
        found: format!(
            "dated {}, {} s earlier (\"{}\"): soak and windows count by commit dates, so check the clocks of the machines that commit",
            commit_time(info.time),
            before - info.time,
            info.message.lines().next().unwrap_or_default()
        ),
    })
}

/// The judge's verdict on the commit that wrote one current pin: admitted when the commit is
/// known and nothing refuses it.
#[derive(Clone, Debug)]
pub struct Admission {
    /// The pin.
    pub pin: StateRecord,
    /// The commit that wrote it, when the history holds one (a shallow clone may not).
    pub commit: Option<ObjectId>,
    /// Why a baton promotion would not have written it: the error findings of that commit for
    /// this pin (empty when it is admitted; a break-glass is a notice and admits).
    pub refusals: Vec<Finding>,
}

/// Judges the commits that wrote the current pins of `env` (every bundle, or one), exactly as
/// the audit judges them: the same walk, the same findings. The applier acts only on a pin whose
/// commit has no error finding.
pub fn admit(
    view: &View,
    env: &EnvName,
    pins: Vec<StateRecord>,
) -> Result<Vec<Admission>, ViewError> {
    let bundle = match pins.as_slice() {
        [one] => Some(one.bundle.clone()),
        _ => None,
    };
    let history = walk(view, &Scope { env: Some(env.clone()), bundle, since: None })?;
    Ok(pins
        .into_iter()
        .map(|pin| {
            let commit = history
                .timeline
                .iter()
                .rev()
                .find(|e| e.environment == *env && e.bundle == pin.bundle)
                .and_then(|e| ObjectId::from_hex(e.commit.as_bytes()).ok());
            let written_by = commit.map(|c| c.to_string());
            let refusals = history
                .findings
                .iter()
                .filter(|f| {
                    f.severity == Severity::Error
                        && f.environment.as_ref() == Some(env)
                        && f.bundle.as_ref() == Some(&pin.bundle)
                        && f.commit.is_some()
                        && f.commit == written_by
                })
                .cloned()
                .collect();
            Admission { pin, commit, refusals }
        })
        .collect())
}

/// A file parsed: `None` when it does not exist, else the value or why it does not parse.
type Parsed<T> = Option<Result<T, String>>;

/// The parsed form of one file, re-parsed only when its blob changes between commits.
struct Cached<T> {
    last: Option<(Option<ObjectId>, Parsed<T>)>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Cached { last: None }
    }
}

impl<T> Cached<T> {
    fn get(
        &mut self,
        view: &View,
        tree: ObjectId,
        path: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<&Result<T, String>>, ViewError> {
        let id = view.repo.blob_id_in(tree, path)?;
        if self.last.as_ref().is_none_or(|(last, _)| *last != id) {
            let parsed = match id {
                Some(id) => Some(
                    String::from_utf8(view.repo.blob(id)?)
                        .map_err(|_| "it is not UTF-8".to_owned())
                        .and_then(|text| parse(&text)),
                ),
                None => None,
            };
            self.last = Some((id, parsed));
        }
        Ok(self.last.as_ref().and_then(|(_, parsed)| parsed.as_ref()))
    }
}

/// One commit that changed files under `state/` or `approvals/`.
struct CommitContext<'a> {
    view: &'a View,
    info: &'a CommitInfo,
    first_line: String,
    trailers: Option<Trailers>,
    /// `baton.toml` at this commit.
    pipeline: Option<&'a Pipeline>,
    /// `.baton/allowed_signers` at this commit, when it exists: signatures are required then.
    signers: Option<&'a Result<AllowedSigners, String>>,
    /// `.baton/trusted_keys.toml` at this commit (empty when there is none).
    trusted: Result<TrustedKeys, String>,
    signature: std::cell::OnceCell<SignatureState>,
    /// How many files under `state/` and `approvals/` the commit changed.
    changed: usize,
    /// Top-level entries besides `state/` and `approvals/` the commit changed.
    elsewhere: Vec<String>,
    snapshot: Snapshot,
}

impl CommitContext<'_> {
    fn commit(&self) -> String {
        self.info.id.to_string()
    }

    /// Makes error findings about `env` and `bundle` at this commit.
    fn error_about<'s>(
        &'s self,
        env: &'s EnvName,
        bundle: &'s BundleName,
    ) -> impl Fn(Check, String, String) -> Finding + 's {
        move |check, expected, found| Finding {
            severity: Severity::Error,
            check,
            environment: Some(env.clone()),
            bundle: Some(bundle.clone()),
            commit: Some(self.commit()),
            expected,
            found,
        }
    }

    fn signature(&self) -> Result<&SignatureState, ViewError> {
        if let Some(state) = self.signature.get() {
            return Ok(state);
        }
        let state = match self.signers {
            Some(Ok(signers)) => self.view.signature_state_of(self.info, signers)?,
            Some(Err(e)) => SignatureState::Bad(format!(
                "`.baton/allowed_signers` at this commit does not parse ({e}), so it lists no key"
            )),
            None => self.view.signature_state_of(self.info, &AllowedSigners::default())?,
        };
        Ok(self.signature.get_or_init(|| state))
    }

    /// Who wrote the change: a `hand-edit` or `trailers` finding when it was not baton.
    fn authorship(
        &self,
        path: &str,
        matches: impl Fn(&Trailers) -> bool,
        finding: &dyn Fn(Check, String, String) -> Finding,
        findings: &mut Vec<Finding>,
    ) -> bool {
        match &self.trailers {
            None => {
                findings.push(finding(
                    Check::HandEdit,
                    "a baton commit with Baton-* trailers".into(),
                    format!("`{path}` changed by a commit without them (\"{}\")", self.first_line),
                ));
                false
            }
            Some(t) if !matches(t) || self.changed != 1 || !self.elsewhere.is_empty() => {
                let elsewhere = if self.elsewhere.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", and changes outside state/ and approvals/ ({})",
                        self.elsewhere.join(", ")
                    )
                };
                findings.push(finding(
                    Check::Trailers,
                    format!(
                        "one changed file and nothing else, matching trailers {} {} {} {} by {}",
                        t.action,
                        t.to,
                        t.bundle,
                        t.digest.short(),
                        t.by
                    ),
                    format!("`{path}` among {} changed file(s){elsewhere}", self.changed),
                ));
                false
            }
            Some(_) => true,
        }
    }

    /// Signed by a key listed for `principal`, where signers are required.
    fn signed_by(
        &self,
        principal: &str,
        finding: &dyn Fn(Check, String, String) -> Finding,
        findings: &mut Vec<Finding>,
    ) -> Result<bool, ViewError> {
        if self.signers.is_none() {
            return Ok(true);
        }
        let state = self.signature()?;
        if state.is_good_for(principal) {
            return Ok(true);
        }
        findings.push(finding(
            Check::Signature,
            format!("a signature by a key listed for `{principal}` in .baton/allowed_signers"),
            signature_words(state),
        ));
        Ok(false)
    }

    /// Checks one changed pin: who wrote it, its signature, the chain, the gates and its params
    /// digest. Returns the pin change for the timeline.
    /// (Long because each check of a pin (authorship, signature, chain, gates, params, history) is
    /// a few lines and they share the parsed record.)
    fn pin(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        change: &Change,
        history: &mut History,
        findings: &mut Vec<Finding>,
    ) -> Result<Option<Event>, ViewError> {
        let finding = self.error_about(env, bundle);
        let record = match change.after {
            Some(id) => std::str::from_utf8(&self.view.repo.blob(id)?)
                .ok()
                .and_then(|t| StateRecord::from_toml(t).ok()),
            None => None,
        };
        let Some(record) = record else {
            findings.push(finding(
                Check::StateFile,
                "a pin written by baton".into(),
                format!("`{}` deleted or unreadable", change.path),
            ));
            return Ok(None);
        };
        if record.environment != *env || record.bundle != *bundle {
            findings.push(finding(
                Check::StateFile,
                format!("a pin of `{bundle}` in `{env}`, as its place says"),
                format!("`{}` names `{}` in `{}`", change.path, record.bundle, record.environment),
            ));
        }
        let by_baton = self.authorship(
            &change.path,
            |t| {
                t.to == *env
                    && t.bundle == *bundle
                    && t.digest == record.digest
                    && t.action == record.action
            },
            &finding,
            findings,
        );
        self.signed_by(record.by.as_str(), &finding, findings)?;
        if let Some(chain) = self.chain(env, bundle, &record, history) {
            findings.push(chain);
        }
        let mut approvals = Vec::new();
        let mut gates = Vec::new();
        if record.action == Action::Promote && by_baton {
            gates = self.gates(env, bundle, &record, history, &mut approvals, findings);
        }
        let params = self.view.repo.read(&self.snapshot, &params_path(env, bundle))?;
        let actual = params_digest(params.as_deref());
        if actual != record.params_digest {
            findings.push(finding(
                Check::Params,
                format!("params digest {}", record.params_digest.short()),
                format!("{} at this commit", actual.short()),
            ));
        }
        history
            .held
            .entry((env.clone(), bundle.clone()))
            .or_default()
            .insert(record.digest.clone(), self.info.time);
        history.current.insert((env.clone(), bundle.clone()), record.digest.clone());
        let store = self
            .pipeline
            .and_then(|p| p.environment(env))
            .or_else(|| self.view.pipeline.environment(env))
            .map(|e| e.store.clone());
        if let Some(store) = store {
            history.ever.insert((env.clone(), bundle.clone(), record.digest.clone()), store);
        }
        Ok(Some(Event {
            environment: env.clone(),
            bundle: bundle.clone(),
            commit: self.commit(),
            at: commit_time(self.info.time),
            action: record.action,
            digest: record.digest,
            version: record.version.to_string(),
            by: record.by.clone(),
            from: record.from,
            reason: record.reason,
            signatures: record.signatures,
            attestation: record.attestation,
            verifications: record.verifications,
            params_digest: record.params_digest,
            published: record.published,
            signature: if self.signers.is_some() {
                self.signature()?.for_principal(record.by.as_str())
            } else {
                Signature::NotRequired
            },
            approvals,
            gates,
            findings: 0,
        }))
    }

    /// Checks one changed approval and records it for the gates of later promotions.
    fn approval(
        &self,
        (env, bundle, digest, principal): (&EnvName, &BundleName, &Digest, &Principal),
        change: &Change,
        history: &mut History,
        findings: &mut Vec<Finding>,
    ) -> Result<(), ViewError> {
        let finding = self.error_about(env, bundle);
        let place = (env.clone(), bundle.clone(), digest.clone());
        let Some(id) = change.after else {
            findings.push(finding(
                Check::Approval,
                "approvals kept (baton never removes one)".into(),
                format!("`{}` deleted (\"{}\")", change.path, self.first_line),
            ));
            if let Some(principals) = history.approvals.get_mut(&place) {
                principals.remove(principal);
            }
            return Ok(());
        };
        let mut invalid = None;
        let record = std::str::from_utf8(&self.view.repo.blob(id)?)
            .ok()
            .and_then(|t| ApprovalRecord::from_toml(t).ok());
        let fits = record.as_ref().is_some_and(|r| {
            r.by == *principal
                && r.environment == *env
                && r.bundle == *bundle
                && r.digest == *digest
        });
        if !fits {
            findings.push(finding(
                Check::Approval,
                format!("an approval record of {} by `{principal}`", digest.short()),
                format!("`{}` unreadable or naming another place", change.path),
            ));
            invalid = Some("not an approval record of its place".to_owned());
        }
        let by_baton = self.authorship(
            &change.path,
            |t| {
                t.action == Action::Approve
                    && t.to == *env
                    && t.bundle == *bundle
                    && t.digest == *digest
                    && t.by == *principal
            },
            &finding,
            findings,
        );
        if !by_baton {
            invalid.get_or_insert_with(|| "not written by `baton approve`".to_owned());
        }
        if !self.signed_by(principal.as_str(), &finding, findings)? {
            invalid.get_or_insert_with(|| format!("not signed by a key listed for `{principal}`"));
        }
        let at = Some(commit_time(self.info.time));
        let key = if self.signers.is_some() {
            self.signature()?.key_for(principal.as_str())
        } else {
            None
        };
        let recorded = RecordedApproval {
            by: principal.clone(),
            commit: Some(self.info.id),
            at,
            invalid,
            key,
        };
        history.approvals.entry(place).or_default().insert(principal.clone(), recorded);
        Ok(())
    }

    /// The chain: upstream first, or a rollback to a digest held before, or a recorded
    /// break-glass (always reported, as a notice).
    fn chain(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        record: &StateRecord,
        history: &History,
    ) -> Option<Finding> {
        let error = self.error_about(env, bundle);
        let finding = |severity, check: Check, expected: String, found: String| Finding {
            severity,
            ..error(check, expected, found)
        };
        let upstream =
            self.pipeline.and_then(|p| p.environment(env)).and_then(|e| e.upstream.clone());
        match record.action {
            Action::BreakGlass => Some(finding(
                Severity::Notice,
                Check::BreakGlass,
                "gates held".into(),
                format!("gates skipped: {}", record.reason.clone().unwrap_or_default()),
            )),
            Action::Rollback if history.held_at(env, bundle, &record.digest).is_none() => {
                Some(finding(
                    Severity::Error,
                    Check::Chain,
                    format!("a rollback to a digest `{env}` held before"),
                    format!("{} was never pinned in `{env}`", record.digest.short()),
                ))
            }
            Action::Promote => upstream
                .filter(|up| history.held_at(up, bundle, &record.digest).is_none())
                .map(|up| {
                    finding(
                        Severity::Error,
                        Check::Chain,
                        format!("{} pinned in `{up}` before", record.digest.short()),
                        format!("`{up}` never pinned it"),
                    )
                }),
            Action::Rollback | Action::Approve => None,
        }
    }

    /// The gates of the environment as `baton.toml` stood at this commit, recomputed from
    /// history by the promoter's own evaluator: upstream and soak (commit times), approvals
    /// recorded before the promotion (never the promoter's, valid, signed where required),
    /// windows (commit time).
    fn gates(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        record: &StateRecord,
        history: &History,
        approvals: &mut Vec<ApprovalEvidence>,
        findings: &mut Vec<Finding>,
    ) -> Vec<GateOutcome> {
        let Some(environment) = self.pipeline.and_then(|p| p.environment(env)) else {
            return Vec::new();
        };
        let key = (env.clone(), bundle.clone(), record.digest.clone());
        let recorded: Vec<RecordedApproval> = history
            .approvals
            .get(&key)
            .into_iter()
            .flat_map(BTreeMap::values)
            .map(|approval| match approval.commit {
                Some(commit) if commit == self.info.id => RecordedApproval {
                    invalid: Some("recorded by the promotion's own commit".to_owned()),
                    ..approval.clone()
                },
                _ => approval.clone(),
            })
            .collect();
        let signatures_required = self.signers.is_some();
        let promoter_key = if signatures_required {
            self.signature().ok().and_then(|s| s.key_for(record.by.as_str()))
        } else {
            None
        };
        let evidence = Evidence {
            promoter: record.by.clone(),
            upstream: environment.upstream.as_ref().map(|up| UpstreamEvidence {
                env: up.clone(),
                current: history.current.get(&(up.clone(), bundle.clone())).cloned(),
                pinned_at: history.held_at(up, bundle, &record.digest).map(commit_time),
                attestation_problem: None,
                // The verifications the promoter counted, as the pin records them; that each
                // report is in the store and holds is checked apart (`View::pin_evidence`).
                verified: crate::VerifiedEvidence {
                    expected: self
                        .pipeline
                        .and_then(|p| p.environment(up))
                        .and_then(|e| e.targets.clone()),
                    verifications: record.verifications.clone(),
                    passed_over: Vec::new(),
                },
            }),
            approvals: recorded,
            // `--allow-superseded` is the promoter's to give and is not recorded: a digest the
            // upstream held before is accepted here, as the promoter may have been told to.
            allow_superseded: true,
            signatures_required,
            promoter_key,
            // The signatures the promoter counted, as the pin records them; that each is in
            // the store and verifies is checked apart (`View::pin_evidence`).
            signed: SignedEvidence {
                trusted: self.trusted.clone(),
                verified: record.signatures.clone(),
                rejected: Vec::new(),
            },
        };
        for (approval, why_not) in evidence.approvals.iter().zip(evidence.weigh()) {
            approvals.push(ApprovalEvidence {
                by: approval.by.clone(),
                commit: approval.commit.map(|c| c.to_string()),
                at: approval.at,
                counted: why_not.is_none(),
                why_not,
            });
        }
        let at = commit_time(self.info.time);
        let outcomes = evaluate(environment, bundle, &record.digest, &evidence, at);
        let error = self.error_about(env, bundle);
        for outcome in outcomes.iter().filter(|o| !o.held) {
            if let Some(check) = Check::of_gate(outcome.gate) {
                findings.push(error(check, outcome.rule.clone(), outcome.detail.clone()));
            }
        }
        outcomes
    }
}

impl History {
    /// When `env` last pinned `digest` of `bundle`, if it ever did.
    fn held_at(&self, env: &EnvName, bundle: &BundleName, digest: &Digest) -> Option<i64> {
        self.held.get(&(env.clone(), bundle.clone()))?.get(digest).copied()
    }
}

fn signature_words(state: &SignatureState) -> String {
    match state {
        SignatureState::Unsigned => "no signature".into(),
        SignatureState::Good { principals, .. } => {
            format!("signed by a key listed for {}", principals.join(", "))
        }
        SignatureState::UnknownKey(fingerprint) => {
            format!("signed by key {fingerprint}, not listed")
        }
        SignatureState::Bad(reason) => format!("a bad signature: {reason}"),
    }
}

/// The top-level entries other than `state` and `approvals` that differ between the commit and
/// its parent (`baton.toml`, `params`, …).
fn changed_elsewhere(
    view: &View,
    before: Option<&Snapshot>,
    after: &Snapshot,
) -> Result<Vec<String>, ViewError> {
    let Some(before) = before else { return Ok(Vec::new()) };
    let old: BTreeMap<String, ObjectId> =
        view.repo.list(before, "")?.into_iter().map(|(n, _, id)| (n, id)).collect();
    let new: BTreeMap<String, ObjectId> =
        view.repo.list(after, "")?.into_iter().map(|(n, _, id)| (n, id)).collect();
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    Ok(names
        .into_iter()
        .filter(|n| {
            Dir::BATON_WRITES.iter().all(|d| d.as_str() != n.as_str()) && old.get(*n) != new.get(*n)
        })
        .cloned()
        .collect())
}

/// Files under `dir` that differ between `before` and `after`, descending only into
/// directories whose tree changed.
/// The changes of a commit (against its first parent) that no other parent holds: in a merge,
/// a file equal to that file in another parent came from that parent's history, whose commits
/// are judged on their own. A commit with one parent keeps every change.
fn merged_in(
    view: &View,
    info: &CommitInfo,
    history: &History,
    changes: Vec<Change>,
) -> Result<Vec<Change>, ViewError> {
    if info.parents.len() < 2 {
        return Ok(changes);
    }
    let others: Vec<ObjectId> =
        info.parents.iter().skip(1).filter_map(|p| history.trees.get(p).copied()).collect();
    let mut kept = Vec::new();
    for change in changes {
        let mut from_a_parent = false;
        for tree in &others {
            if view.repo.blob_id_in(*tree, &change.path)? == change.after {
                from_a_parent = true;
                break;
            }
        }
        if !from_a_parent {
            kept.push(change);
        }
    }
    Ok(kept)
}

/// What a commit changed under the directories baton writes, but the READMEs `baton init`
/// writes (documentation, not state).
fn state_changes(
    view: &View,
    before: Option<&Snapshot>,
    after: &Snapshot,
) -> Result<Vec<Change>, ViewError> {
    let mut changes = Vec::new();
    for dir in Dir::BATON_WRITES {
        changed_files(view, before, after, dir.as_str(), &mut changes)?;
    }
    changes.retain(|c| !matches!(StatePath::parse(&c.path), Some(StatePath::Readme(_))));
    Ok(changes)
}

fn changed_files(
    view: &View,
    before: Option<&Snapshot>,
    after: &Snapshot,
    dir: &str,
    out: &mut Vec<Change>,
) -> Result<(), ViewError> {
    let list = |s: Option<&Snapshot>| -> Result<BTreeMap<String, (bool, ObjectId)>, ViewError> {
        Ok(match s {
            Some(s) => view.repo.list(s, dir)?.into_iter().map(|(n, d, id)| (n, (d, id))).collect(),
            None => BTreeMap::new(),
        })
    };
    let (old, new) = (list(before)?, list(Some(after))?);
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let (o, n) = (old.get(name), new.get(name));
        if o.map(|x| x.1) == n.map(|x| x.1) {
            continue;
        }
        let path = format!("{dir}/{name}");
        if o.is_some_and(|x| x.0) || n.is_some_and(|x| x.0) {
            changed_files(view, before, after, &path, out)?;
        } else {
            out.push(Change { path, after: n.map(|x| x.1) });
        }
    }
    Ok(())
}
