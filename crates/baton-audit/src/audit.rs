//! The checks. History first, oldest commit to newest: every change under `state/` and
//! `approvals/` must be a well-formed baton commit, signed where signers are required, and every
//! pinned digest must have passed the environment's upstream (or be a rollback to one it held,
//! or a recorded break-glass). Then the present: every current pin's params digest matches its
//! params file, and every current pin is in its store, byte for byte, under its tag.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use baton_bundle::{Limits, verify_bundle};
use baton_model::{Action, BundleName, Digest, EnvName, Pipeline, Selector, StateRecord};
use baton_promote::{PromoteError, SignatureState, View, params_digest, params_path};
use baton_state::{ObjectId, Snapshot};
use baton_store::RegistryOptions;
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Recorded and allowed, but always reported (break-glass).
    Notice,
    /// The history or a store is not what baton would have made.
    Error,
}

/// One thing the audit cannot explain.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// A short name of the check (`hand-edit`, `chain`, `signature`, `params`, `store`, …).
    pub check: String,
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

/// The verdict on one pin.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The digest pinned now.
    pub digest: Digest,
    /// How many findings concern this environment and bundle.
    pub findings: usize,
}

/// Everything the audit found.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(
    title = "baton audit --output json",
    description = "What `baton audit` found: every finding, and a verdict per current pin."
)]
pub struct Report {
    /// The commit audited.
    pub commit: String,
    /// Commits walked.
    pub commits: usize,
    /// Every finding, in history order, then the present.
    pub findings: Vec<Finding>,
    /// One verdict per current pin.
    pub summary: Vec<Verdict>,
}

/// What to audit.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Only this environment.
    pub env: Option<EnvName>,
    /// Only this bundle.
    pub bundle: Option<BundleName>,
    /// Only findings of commits at or after this time (seconds since the epoch); earlier
    /// history is still read, since the chain and the gates depend on it.
    pub since: Option<i64>,
}

impl Scope {
    fn covers(&self, env: &EnvName, bundle: &BundleName) -> bool {
        self.env.as_ref().is_none_or(|e| e == env)
            && self.bundle.as_ref().is_none_or(|b| b == bundle)
    }
}

/// Why the audit could not run (a finding is not an error).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The state repository could not be read.
    #[error(transparent)]
    State(#[from] PromoteError),
    /// A git read failed.
    #[error(transparent)]
    Git(#[from] baton_state::StateError),
}

/// One file under `state/` or `approvals/` that a commit changed.
struct Change {
    path: String,
    after: Option<ObjectId>,
}

/// Audits the history and the present of the state repository read by `view`.
pub fn audit(view: &View, scope: &Scope, options: &RegistryOptions) -> Result<Report, AuditError> {
    let repo = &view.repo;
    let tip = view.snapshot.commit.expect("holds because View::open requires a commit");
    let mut commits: Vec<_> = repo.commits(tip)?.collect::<Result<_, _>>()?;
    commits.reverse();
    let mut findings = Vec::new();
    // Every digest each (environment, bundle) ever pinned, by any commit.
    let mut held: HashMap<(EnvName, BundleName), BTreeMap<Digest, i64>> = HashMap::new();
    for info in &commits {
        let snapshot = Snapshot { commit: Some(info.id), tree: info.tree };
        let parent = match info.parents.first() {
            Some(p) => Some(repo.snapshot_at(*p)?),
            None => None,
        };
        let mut changes = Vec::new();
        for dir in ["state", "approvals"] {
            changed_files(view, parent.as_ref(), &snapshot, dir, &mut changes)?;
        }
        if changes.is_empty() {
            continue;
        }
        let trailers = baton_model::Trailers::parse(&info.message).and_then(Result::ok);
        let pipeline = pipeline_at(view, &snapshot);
        let context = CommitContext {
            view,
            commit: info.id.to_string(),
            tree: info.tree,
            first_line: info.message.lines().next().unwrap_or_default().to_owned(),
            time: info.time,
            parent: parent.clone(),
            trailers,
            pipeline,
            changed: changes.len(),
            snapshot,
        };
        let reported = scope.since.is_none_or(|since| info.time >= since);
        for change in &changes {
            if let Some((env, bundle)) = pin_of(&change.path)
                && scope.covers(&env, &bundle)
            {
                let mut these = Vec::new();
                context.check(&env, &bundle, change, &mut held, &mut these)?;
                if reported {
                    findings.extend(these);
                }
            }
        }
    }
    present(view, scope, options, &mut findings)?;
    let mut summary = Vec::new();
    for env in view.pipeline.environments() {
        for pin in view.pins_in(&env.name)? {
            if !scope.covers(&env.name, &pin.bundle) {
                continue;
            }
            let count = findings
                .iter()
                .filter(|f| {
                    f.environment.as_ref() == Some(&env.name)
                        && f.bundle.as_ref() == Some(&pin.bundle)
                        && f.severity == Severity::Error
                })
                .count();
            summary.push(Verdict {
                environment: env.name.clone(),
                bundle: pin.bundle,
                digest: pin.digest,
                findings: count,
            });
        }
    }
    Ok(Report { commit: tip.to_string(), commits: commits.len(), findings, summary })
}

/// One commit that changed files under `state/` or `approvals/`.
struct CommitContext<'v> {
    view: &'v View,
    commit: String,
    tree: ObjectId,
    first_line: String,
    /// Committer time.
    time: i64,
    /// The first parent, as the promotion saw the repository.
    parent: Option<Snapshot>,
    trailers: Option<baton_model::Trailers>,
    pipeline: Option<Pipeline>,
    changed: usize,
    snapshot: Snapshot,
}

impl CommitContext<'_> {
    fn commit_id(&self) -> ObjectId {
        self.snapshot.commit.expect("holds because history snapshots name their commit")
    }

    /// Checks one changed pin: who wrote it, its signature, the chain and its params digest.
    fn check(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        change: &Change,
        held: &mut HashMap<(EnvName, BundleName), BTreeMap<Digest, i64>>,
        findings: &mut Vec<Finding>,
    ) -> Result<(), AuditError> {
        let (env, bundle) = (env.clone(), bundle.clone());
        let finding = |check: &str, expected: String, found: String| Finding {
            severity: Severity::Error,
            check: check.to_owned(),
            environment: Some(env.clone()),
            bundle: Some(bundle.clone()),
            commit: Some(self.commit.clone()),
            expected,
            found,
        };
        let record = match change.after {
            Some(id) => std::str::from_utf8(&self.view.repo.blob(id)?)
                .ok()
                .and_then(|t| StateRecord::from_toml(t).ok()),
            None => None,
        };
        let Some(record) = record else {
            findings.push(finding(
                "state-file",
                "a pin written by baton".into(),
                format!("`{}` deleted or unreadable", change.path),
            ));
            return Ok(());
        };
        // Who wrote it.
        match &self.trailers {
            None => findings.push(finding(
                "hand-edit",
                "a baton commit with Baton-* trailers".into(),
                format!(
                    "`{}` changed by a commit without them (\"{}\")",
                    change.path, self.first_line
                ),
            )),
            Some(t)
                if t.to != env
                    || t.bundle != bundle
                    || t.digest != record.digest
                    || t.action != record.action
                    || self.changed != 1 =>
            {
                findings.push(finding(
                    "trailers",
                    format!(
                        "trailers naming {} {} {} and one changed file",
                        t.to,
                        t.bundle,
                        t.digest.short()
                    ),
                    format!(
                        "`{}` pins {} ({}) among {} changed file(s)",
                        change.path,
                        record.digest.short(),
                        record.action,
                        self.changed
                    ),
                ));
            }
            Some(_) => {}
        }
        // Signed where signers are required.
        if self.view.allowed_signers_in(self.tree)?.is_some() {
            let state = self.view.signature_state(self.commit_id())?;
            if !state.is_good_for(record.by.as_str()) {
                findings.push(finding(
                    "signature",
                    format!(
                        "a signature by a key listed for `{}` in .baton/allowed_signers",
                        record.by
                    ),
                    signature_words(&state),
                ));
            }
        }
        if let Some(chain) = self.chain(&env, &bundle, &record, held) {
            findings.push(Finding { commit: Some(self.commit.clone()), ..chain });
        }
        if record.action == Action::Promote && self.trailers.is_some() {
            for gate in self.gates(&env, &bundle, &record, held)? {
                findings.push(Finding { commit: Some(self.commit.clone()), ..gate });
            }
        }
        // The params digest recorded is that of the params file at this commit.
        let params = self.view.repo.read(&self.snapshot, &params_path(&env, &bundle))?;
        let actual = params_digest(params.as_deref());
        if actual != record.params_digest {
            findings.push(finding(
                "params",
                format!("params digest {}", record.params_digest.short()),
                format!("{} at this commit", actual.short()),
            ));
        }
        held.entry((env.clone(), bundle.clone()))
            .or_default()
            .insert(record.digest.clone(), self.time);
        Ok(())
    }
    /// The chain: upstream first, or a rollback to a digest held before, or a recorded
    /// break-glass (always reported, as a notice).
    fn chain(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        record: &StateRecord,
        held: &HashMap<(EnvName, BundleName), BTreeMap<Digest, i64>>,
    ) -> Option<Finding> {
        let finding = |severity, check: &str, expected: String, found: String| Finding {
            severity,
            check: check.to_owned(),
            environment: Some(env.clone()),
            bundle: Some(bundle.clone()),
            commit: None,
            expected,
            found,
        };
        let holds = |e: &EnvName| {
            held.get(&(e.clone(), bundle.clone())).is_some_and(|s| s.contains_key(&record.digest))
        };
        let upstream = self
            .pipeline
            .as_ref()
            .and_then(|p| p.environment(env))
            .and_then(|e| e.upstream.clone());
        match record.action {
            Action::BreakGlass => Some(finding(
                Severity::Notice,
                "break-glass",
                "gates held".into(),
                format!("gates skipped: {}", record.reason.clone().unwrap_or_default()),
            )),
            Action::Rollback if !holds(env) => Some(finding(
                Severity::Error,
                "chain",
                format!("a rollback to a digest `{env}` held before"),
                format!("{} was never pinned in `{env}`", record.digest.short()),
            )),
            Action::Promote => upstream.filter(|up| !holds(up)).map(|up| {
                finding(
                    Severity::Error,
                    "chain",
                    format!("{} pinned in `{up}` before", record.digest.short()),
                    format!("`{up}` never pinned it"),
                )
            }),
            Action::Rollback | Action::Approve => None,
        }
    }
    /// The gates of the environment as `baton.toml` stood at this commit, recomputed from
    /// history: soak (commit times), approvals present before the promotion (distinct, never the
    /// promoter), windows (commit time).
    fn gates(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        record: &StateRecord,
        held: &HashMap<(EnvName, BundleName), BTreeMap<Digest, i64>>,
    ) -> Result<Vec<Finding>, AuditError> {
        let mut found = Vec::new();
        let Some(environment) = self.pipeline.as_ref().and_then(|p| p.environment(env)) else {
            return Ok(found);
        };
        let gates = &environment.gates;
        let finding = |check: &str, expected: String, seen: String| Finding {
            severity: Severity::Error,
            check: check.to_owned(),
            environment: Some(env.clone()),
            bundle: Some(bundle.clone()),
            commit: None,
            expected,
            found: seen,
        };
        if let (Some(soak), Some(up)) = (gates.soak, &environment.upstream) {
            let since = held.get(&(up.clone(), bundle.clone())).and_then(|s| s.get(&record.digest));
            if let Some(since) = since {
                let held_for = u64::try_from(self.time - since).unwrap_or(0);
                if held_for < soak.seconds() {
                    found.push(finding(
                        "gate-soak",
                        format!("pinned in `{up}` for {soak}"),
                        format!("promoted after {}", baton_model::Duration::from_seconds(held_for)),
                    ));
                }
            }
        }
        if gates.approvals > 0 {
            let mut principals = BTreeSet::new();
            if let Some(parent) = &self.parent {
                let dir = baton_promote::approvals_dir(env, bundle, &record.digest);
                for (name, is_dir, _) in self.view.repo.list(parent, &dir)? {
                    if let (false, Some(principal)) = (is_dir, name.strip_suffix(".toml"))
                        && principal != record.by.as_str()
                    {
                        principals.insert(principal.to_owned());
                    }
                }
            }
            if principals.len() < gates.approvals as usize {
                found.push(finding(
                    "gate-approvals",
                    format!(
                        "{} approvals by principals other than `{}` before the promotion",
                        gates.approvals, record.by
                    ),
                    format!(
                        "{} ({})",
                        principals.len(),
                        principals.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        if !baton_promote::window_holds(&gates.windows, self.time)? {
            found.push(finding(
                "gate-window",
                format!(
                    "a commit inside {}",
                    gates.windows.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
                ),
                format!("committed at {}", baton_promote::rfc3339(self.time)),
            ));
        }
        Ok(found)
    }
}

/// The present: params files against current pins, and stores against current pins.
fn present(
    view: &View,
    scope: &Scope,
    options: &RegistryOptions,
    findings: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    for env in view.pipeline.environments() {
        let pins: Vec<StateRecord> = view
            .pins_in(&env.name)?
            .into_iter()
            .filter(|p| scope.covers(&env.name, &p.bundle))
            .collect();
        if pins.is_empty() {
            continue;
        }
        let finding = |pin: &StateRecord, check: &str, expected: String, found: String| Finding {
            severity: Severity::Error,
            check: check.to_owned(),
            environment: Some(env.name.clone()),
            bundle: Some(pin.bundle.clone()),
            commit: view.snapshot.commit.map(|c| c.to_string()),
            expected,
            found,
        };
        let store = match view.open_store(env, options) {
            Ok(store) => Some(store),
            Err(e) => {
                for pin in &pins {
                    findings.push(finding(
                        pin,
                        "store",
                        format!("store `{}` readable", env.store),
                        e.to_string(),
                    ));
                }
                None
            }
        };
        for pin in &pins {
            let params = view.repo.read(&view.snapshot, &params_path(&env.name, &pin.bundle))?;
            let actual = params_digest(params.as_deref());
            if actual != pin.params_digest {
                findings.push(finding(
                    pin,
                    "params",
                    format!("params digest {} as pinned", pin.params_digest.short()),
                    format!(
                        "`{}` changed without a promotion (now {})",
                        params_path(&env.name, &pin.bundle),
                        actual.short()
                    ),
                ));
            }
            let Some(store) = &store else { continue };
            let blobs = store.blobs(&pin.bundle);
            match verify_bundle(blobs.as_ref(), &pin.digest, Limits::STANDARD) {
                Ok((_, problems)) if problems.is_empty() => {}
                Ok((_, problems)) => {
                    for problem in problems {
                        findings.push(finding(
                            pin,
                            "store",
                            format!("{} intact in `{}`", pin.digest.short(), env.store),
                            problem.to_string(),
                        ));
                    }
                }
                Err(e) => findings.push(finding(
                    pin,
                    "store",
                    format!("{} in `{}`", pin.digest.short(), env.store),
                    e.to_string(),
                )),
            }
            match store.resolve(&pin.bundle, &Selector::Tag(pin.version.to_string())) {
                Ok(tagged) if tagged == pin.digest => {}
                Ok(tagged) => findings.push(finding(
                    pin,
                    "tag",
                    format!("tag {}:{} on {}", pin.bundle, pin.version, pin.digest.short()),
                    format!("it points to {}", tagged.short()),
                )),
                Err(e) => findings.push(finding(
                    pin,
                    "tag",
                    format!("tag {}:{}", pin.bundle, pin.version),
                    e.to_string(),
                )),
            }
        }
    }
    Ok(())
}

fn signature_words(state: &SignatureState) -> String {
    match state {
        SignatureState::Unsigned => "no signature".into(),
        SignatureState::Good(principals) => {
            format!("signed by a key listed for {}", principals.join(", "))
        }
        SignatureState::UnknownKey(fingerprint) => {
            format!("signed by key {fingerprint}, not listed")
        }
        SignatureState::Bad(reason) => format!("a bad signature: {reason}"),
    }
}

/// `state/<env>/<bundle>.toml` → (env, bundle).
fn pin_of(path: &str) -> Option<(EnvName, BundleName)> {
    let rest = path.strip_prefix("state/")?;
    let (env, file) = rest.split_once('/')?;
    let bundle = file.strip_suffix(".toml")?;
    Some((env.parse().ok()?, bundle.parse().ok()?))
}

fn pipeline_at(view: &View, snapshot: &Snapshot) -> Option<Pipeline> {
    let bytes = view.repo.read(snapshot, "baton.toml").ok()??;
    Pipeline::from_toml(std::str::from_utf8(&bytes).ok()?).ok()
}

/// Files under `dir` that differ between `before` and `after`.
fn changed_files(
    view: &View,
    before: Option<&Snapshot>,
    after: &Snapshot,
    dir: &str,
    out: &mut Vec<Change>,
) -> Result<(), AuditError> {
    let list = |s: Option<&Snapshot>| -> Result<BTreeMap<String, (bool, ObjectId)>, AuditError> {
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
