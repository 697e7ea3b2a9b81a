//! Read-only questions answered from git alone: what is pinned where (`status`), how two
//! environments differ (`diff`), and every pin change of an environment (`history`).

use std::collections::{BTreeMap, BTreeSet};

use baton_model::{Action, BundleName, Digest, EnvName, Principal, StateRecord, TargetId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use baton_store::RegistryOptions;

use crate::{
    ReportAction, Running, Signature, TestResult, View, ViewError, commit_time, error_chain,
    view::params_path,
};

/// One pin in `status`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusRow {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The pin.
    pub digest: Digest,
    /// The version.
    pub version: String,
    /// When it was pinned.
    pub at: Timestamp,
    /// Seconds since then.
    pub age_seconds: i64,
    /// Who pinned it.
    pub by: Principal,
    /// How.
    pub action: Action,
    /// Why, for a break-glass or a rollback that gave a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the environment's expected targets report running (environments with `targets`,
    /// when the store was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
    /// Why the reports could not be read from the environment's store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_error: Option<String>,
}

/// Every pin of every environment, environments in chain order, bundles sorted; with
/// `registry`, what the expected targets of each environment that lists them report running,
/// read from its store.
pub fn status(
    view: &View,
    now: Timestamp,
    registry: Option<&RegistryOptions>,
) -> Result<Vec<StatusRow>, ViewError> {
    let mut rows = Vec::new();
    for env in view.pipeline.environments() {
        let mut store = None;
        for record in view.pins_in(&env.name)? {
            let age = now.as_second() - record.at.as_second();
            let (running, running_error) = match registry {
                Some(registry) if env.targets.is_some() => {
                    let store = store.get_or_insert_with(|| {
                        view.open_store(env, registry).map_err(|e| error_chain(&e))
                    });
                    match store {
                        Ok(store) => match view.running(env, &record, store, now) {
                            Ok(running) => (running, None),
                            Err(e) => (None, Some(error_chain(&e))),
                        },
                        Err(e) => (None, Some(e.clone())),
                    }
                }
                _ => (None, None),
            };
            rows.push(StatusRow {
                bundle: record.bundle,
                environment: env.name.clone(),
                version: record.version.to_string(),
                digest: record.digest,
                at: record.at,
                age_seconds: age,
                by: record.by,
                action: record.action,
                reason: record.reason,
                running,
                running_error,
            });
        }
    }
    Ok(rows)
}

/// How one bundle differs between two environments.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BundleDiff {
    /// The bundle.
    pub bundle: BundleName,
    /// The pin in the first environment.
    pub a: Option<PinSummary>,
    /// The pin in the second environment.
    pub b: Option<PinSummary>,
    /// Whether the digests are the same.
    pub same_digest: bool,
    /// Parameters that differ: name, value in a, value in b (as TOML; absent is `None`).
    pub params: Vec<ParamDiff>,
}

/// A pin, short.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PinSummary {
    /// The digest.
    pub digest: Digest,
    /// The version.
    pub version: String,
}

/// One parameter that differs.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParamDiff {
    /// The parameter.
    pub name: String,
    /// Its value in the first environment, as a JSON value (a reference stays a reference:
    /// `{"from_env": "NAME"}`).
    pub a: Option<serde_json::Value>,
    /// Its value in the second environment.
    pub b: Option<serde_json::Value>,
}

/// Digest and parameter differences of every bundle (or one) between environments `a` and `b`.
pub fn diff(
    view: &View,
    a: &str,
    b: &str,
    bundle: Option<&BundleName>,
) -> Result<Vec<BundleDiff>, ViewError> {
    let env_a = view.environment(a)?.name.clone();
    let env_b = view.environment(b)?.name.clone();
    let bundles: BTreeSet<BundleName> = match bundle {
        Some(bundle) => BTreeSet::from([bundle.clone()]),
        None => {
            view.pinned_bundles(&env_a)?.into_iter().chain(view.pinned_bundles(&env_b)?).collect()
        }
    };
    let mut out = Vec::new();
    for bundle in bundles {
        let summary = |r: Option<StateRecord>| {
            r.map(|r| PinSummary { digest: r.digest, version: r.version.to_string() })
        };
        let pin_a = summary(view.pin(&env_a, &bundle)?);
        let pin_b = summary(view.pin(&env_b, &bundle)?);
        let params_a = read_params(view, &env_a, &bundle)?;
        let params_b = read_params(view, &env_b, &bundle)?;
        let names: BTreeSet<&String> = params_a.keys().chain(params_b.keys()).collect();
        let params = names
            .into_iter()
            .filter(|n| params_a.get(*n) != params_b.get(*n))
            .map(|n| ParamDiff {
                name: n.clone(),
                a: params_a.get(n).cloned(),
                b: params_b.get(n).cloned(),
            })
            .collect();
        let same_digest = match (&pin_a, &pin_b) {
            (Some(x), Some(y)) => x.digest == y.digest,
            _ => false,
        };
        out.push(BundleDiff { bundle, a: pin_a, b: pin_b, same_digest, params });
    }
    Ok(out)
}

/// The params file as name → value (references stay references: a secret's value is never in
/// the file). A TOML date or time becomes its text.
fn read_params(
    view: &View,
    env: &EnvName,
    bundle: &BundleName,
) -> Result<BTreeMap<String, serde_json::Value>, ViewError> {
    let path = params_path(env, bundle);
    let Some(text) = view.read_text(&path)? else { return Ok(BTreeMap::new()) };
    let table: toml::Table = toml::from_str(&text).map_err(|source| ViewError::BadFile {
        file: path.into(),
        written_by_baton: false,
        source: Box::new(source),
    })?;
    Ok(table.into_iter().map(|(k, v)| (k, json_of(v))).collect())
}

/// A TOML value as the JSON value of the same shape.
fn json_of(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Float(f) => serde_json::Value::from(f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => items.into_iter().map(json_of).collect(),
        toml::Value::Table(table) => {
            serde_json::Value::Object(table.into_iter().map(|(k, v)| (k, json_of(v))).collect())
        }
    }
}

/// One pin change.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    /// The commit.
    pub commit: String,
    /// Commit time.
    pub at: Timestamp,
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The digest pinned.
    pub digest: Digest,
    /// Its version.
    pub version: Option<String>,
    /// Where it came from.
    pub from: Option<String>,
    /// Who.
    pub by: Principal,
    /// How.
    pub action: Action,
    /// Why: a break-glass's reason, or a rollback's when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the commit's signature proves for the principal it names.
    pub signature: Signature,
    /// The reports the environment's targets wrote about this digest while this pin was the
    /// newest (with `registry`, for environments that list targets), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportEntry>,
}

/// One target's report beside a pin change in `history`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportEntry {
    /// The target.
    pub target: TargetId,
    /// When it reported.
    pub at: Timestamp,
    /// What it did.
    pub action: ReportAction,
    /// Its verification's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TestResult>,
    /// What it runs after it.
    pub running: Digest,
    /// The report (its referrer manifest's digest).
    pub report: Digest,
}

/// How many of the newest pin changes `history` reads reports for (each a listing of the
/// store's referrers).
const HISTORY_REPORTS: usize = 20;

/// Every pin change of `env` (and one bundle), newest first, from commit trailers; with
/// `registry`, where `env` lists targets, the reports of the newest changes beside them.
pub fn history(
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    registry: Option<&RegistryOptions>,
) -> Result<Vec<HistoryEntry>, ViewError> {
    let environment = view.environment(env)?;
    let mut entries = pin_changes(view, &environment.name, bundle)?;
    if let Some(registry) = registry
        && environment.targets.is_some()
    {
        let store = view.open_store(environment, registry)?;
        add_reports(view, &environment.name, &store, &mut entries)?;
    }
    Ok(entries)
}

/// Puts beside each of the newest pin changes the reports of its digest made while it was the
/// newest change of its bundle.
fn add_reports(
    view: &View,
    env: &EnvName,
    store: &baton_store::Store,
    entries: &mut [HistoryEntry],
) -> Result<(), ViewError> {
    let mut read: BTreeMap<(BundleName, Digest), crate::Reports> = BTreeMap::new();
    let mut newer: BTreeMap<BundleName, Timestamp> = BTreeMap::new();
    for entry in entries.iter_mut().take(HISTORY_REPORTS) {
        let key = (entry.bundle.clone(), entry.digest.clone());
        if !read.contains_key(&key) {
            let reports = view.target_reports(
                store,
                (env, &entry.bundle, &entry.digest),
                view.snapshot.tree,
            )?;
            read.insert(key.clone(), reports);
        }
        let until = newer.insert(entry.bundle.clone(), entry.at);
        // Reports are dated to the second, commits too: one made in the second of the pin
        // belongs to it.
        entry.reports = read[&key]
            .valid
            .iter()
            .filter(|(_, r)| r.at >= entry.at && until.is_none_or(|u| r.at < u))
            .map(|(digest, r)| ReportEntry {
                target: r.target.clone(),
                at: r.at,
                action: r.action,
                result: r.verification,
                running: r.running.clone(),
                report: digest.clone(),
            })
            .collect();
    }
    Ok(())
}

/// Every pin change of `env` (and one bundle), newest first.
fn pin_changes(
    view: &View,
    env: &EnvName,
    bundle: Option<&BundleName>,
) -> Result<Vec<HistoryEntry>, ViewError> {
    let env = env.clone();
    let events =
        view.pin_events(|t| t.to == env && bundle.is_none_or(|b| t.bundle == *b), usize::MAX)?;
    events
        .into_iter()
        .map(|e| {
            let signature = if e.signed {
                view.signature_state(e.commit)?.for_principal(e.trailers.by.as_str())
            } else {
                Signature::Unsigned
            };
            Ok(HistoryEntry {
                commit: e.commit.to_string(),
                at: commit_time(e.time),
                environment: e.trailers.to,
                bundle: e.trailers.bundle,
                digest: e.trailers.digest,
                version: e.trailers.version.map(|v| v.to_string()),
                from: e.trailers.from,
                by: e.trailers.by,
                action: e.trailers.action,
                reason: e.trailers.reason,
                signature,
                reports: Vec::new(),
            })
        })
        .collect()
}
