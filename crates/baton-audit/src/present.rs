//! The present: the branch's reflog in this clone, params files against current pins, the
//! stores (every current pin, or with `--deep` every digest ever pinned) re-hashed, tags, and,
//! with `--targets`, what each reachable target has applied.

use std::collections::BTreeMap;

use baton_bundle::{Limits, verify_bundle};
use baton_model::{BundleName, Digest, EnvName, Selector, StatePath, StateRecord, StoreLocation};
use baton_store::{RegistryOptions, Store};
use baton_target::{Home, drift};
use baton_view::{View, commit_time, judge::History, params_digest, params_path};

use crate::{
    AuditError, Scope,
    report::{Check, Finding, Severity},
};

fn error(
    check: Check,
    env: Option<&EnvName>,
    bundle: Option<&BundleName>,
    commit: Option<String>,
    expected: String,
    found: String,
) -> Finding {
    Finding {
        severity: Severity::Error,
        check,
        environment: env.cloned(),
        bundle: bundle.cloned(),
        commit,
        expected,
        found,
    }
}

/// Every move of the branch this clone recorded must be a fast-forward. A move from a commit the
/// history no longer holds back onto the history is where it was rewritten (reset, amend, rebase,
/// forced fetch): reported with what the dropped commit was.
pub(crate) fn reflog(
    view: &View,
    history: &History,
    findings: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    // With an upstream, what counts is what the team published: the remote-tracking ref's
    // moves. A local rebase of work never pushed is no rewrite.
    let (branch, entries) = match view.repo.published_reflog()? {
        Some(entries) => {
            (view.repo.upstream().map_or_else(|| view.repo.branch(), |u| u.name()), entries)
        }
        None => (view.repo.branch(), view.repo.reflog()?),
    };
    let made: std::collections::HashMap<_, &str> =
        entries.iter().map(|e| (e.new, e.message.trim())).collect();
    for entry in &entries {
        let dropped = !entry.old.is_null() && !history.trees.contains_key(&entry.old);
        if !dropped || !history.trees.contains_key(&entry.new) {
            continue;
        }
        let what = made.get(&entry.old).map_or(String::new(), |m| format!(" (\"{m}\")"));
        findings.push(error(
            Check::Rewrite,
            None,
            None,
            Some(entry.old.to_string()),
            format!("only fast-forward moves of `{branch}`"),
            format!(
                "`{branch}` moved from {} to {} at {} (\"{}\"), dropping {}{what} from its history",
                entry.old,
                entry.new,
                commit_time(entry.time),
                entry.message.trim(),
                entry.old,
            ),
        ));
    }
    Ok(())
}

/// Params files against the current pins: a params file changed without a promotion.
pub(crate) fn params(
    view: &View,
    pins: &[(EnvName, StateRecord)],
    findings: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let commit = view.snapshot.commit.map(|c| c.to_string());
    for (env, pin) in pins {
        let path = params_path(env, &pin.bundle);
        let actual = params_digest(view.repo.read(&view.snapshot, &path)?.as_deref());
        if actual != pin.params_digest {
            findings.push(error(
                Check::Params,
                Some(env),
                Some(&pin.bundle),
                commit.clone(),
                format!("params digest {} as pinned", pin.params_digest.short()),
                format!("`{path}` changed without a promotion (now {})", actual.short()),
            ));
        }
    }
    Ok(())
}

/// What to re-hash: one bundle digest in one store, on behalf of the pins that name it.
struct Rehash {
    pinned_in: Vec<EnvName>,
    /// The tag that must still point at it (current pins only).
    tag: Option<String>,
}

/// The current pins in scope, environments in chain order, then those `baton.toml` no longer
/// defines (each an `orphan` finding). A pin file that does not parse is a `state-file` finding
/// and the audit goes on with the rest.
pub(crate) fn pins(
    view: &View,
    scope: &Scope,
    findings: &mut Vec<Finding>,
) -> Result<Vec<(EnvName, StateRecord)>, AuditError> {
    let commit = view.snapshot.commit.map(|c| c.to_string());
    let defined: Vec<EnvName> =
        view.pipeline.environments().iter().map(|e| e.name.clone()).collect();
    let orphaned: Vec<EnvName> =
        view.pinned_environments()?.into_iter().filter(|e| !defined.contains(e)).collect();
    let mut pins = Vec::new();
    for env in defined.iter().chain(&orphaned) {
        for (path, parsed) in view.pin_files_in(env)? {
            let bundle = match StatePath::parse(&path) {
                Some(StatePath::Pin { bundle, .. }) => Some(bundle),
                _ => None,
            };
            if !bundle.as_ref().is_none_or(|b| scope.covers(env, b)) {
                continue;
            }
            let pin = match parsed {
                Ok(pin) => pin,
                Err(e) => {
                    findings.push(error(
                        Check::StateFile,
                        Some(env),
                        bundle.as_ref(),
                        commit.clone(),
                        "a pin written by baton".into(),
                        std::iter::once(e.to_string())
                            .chain(
                                std::iter::successors(std::error::Error::source(&e), |c| {
                                    c.source()
                                })
                                .map(ToString::to_string),
                            )
                            .collect::<Vec<_>>()
                            .join(": "),
                    ));
                    continue;
                }
            };
            if orphaned.contains(env) {
                findings.push(error(
                    Check::Orphan,
                    Some(env),
                    Some(&pin.bundle),
                    commit.clone(),
                    format!("pins only of environments `baton.toml` defines ({})", defined.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
                    format!("`{path}` pins {} in `{env}`, which `baton.toml` no longer defines: nothing applies or promotes it; remove it, or define `{env}` again", pin.digest.short()),
                ));
            }
            pins.push((env.clone(), pin));
        }
    }
    Ok(pins)
}

/// Re-hashes bundles in their stores: the current pins, and with `deep` every digest ever
/// pinned. A digest shared by several environments with one store is read once. Returns how many
/// bundles were verified.
/// (Long because it first groups every pin by (store, bundle, digest), so each is re-hashed once,
/// then reports per pin.)
/// A store the audit cannot reach from here (a relative `oci:` store of a state read from a
/// URL): a notice, as for a target out of reach, not a failure.
fn local_store_notice(
    env: &EnvName,
    bundle: &BundleName,
    commit: Option<String>,
    error: &baton_view::ViewError,
    findings: &mut Vec<Finding>,
) {
    findings.push(Finding {
        severity: Severity::Notice,
        check: Check::Store,
        environment: Some(env.clone()),
        bundle: Some(bundle.clone()),
        commit,
        expected: "a store this audit can reach".into(),
        found: error.to_string(),
    });
}

pub(crate) fn stores(
    view: &View,
    pins: &[(EnvName, StateRecord)],
    history: &History,
    deep: bool,
    options: &RegistryOptions,
    findings: &mut Vec<Finding>,
) -> usize {
    let commit = view.snapshot.commit.map(|c| c.to_string());
    let mut checks: BTreeMap<(String, BundleName, Digest), (StoreLocation, Rehash)> =
        BTreeMap::new();
    for (env, pin) in pins {
        // An orphaned pin's store is the one its environment had when it was pinned.
        let store = match view.environment(env.as_str()) {
            Ok(environment) => environment.store.clone(),
            Err(_) => {
                match history.ever.get(&(env.clone(), pin.bundle.clone(), pin.digest.clone())) {
                    Some(store) => store.clone(),
                    None => continue,
                }
            }
        };
        let store = match view.locate(&store) {
            Ok(store) => store,
            Err(e) => {
                local_store_notice(env, &pin.bundle, commit.clone(), &e, findings);
                continue;
            }
        };
        let (_, check) = checks
            .entry((store.to_string(), pin.bundle.clone(), pin.digest.clone()))
            .or_insert_with(|| (store.clone(), Rehash { pinned_in: Vec::new(), tag: None }));
        check.pinned_in.push(env.clone());
        check.tag = Some(pin.version.to_string());
    }
    if deep {
        for ((env, bundle, digest), store) in &history.ever {
            let Ok(store) = view.locate(store) else { continue };
            let (_, check) = checks
                .entry((store.to_string(), bundle.clone(), digest.clone()))
                .or_insert_with(|| (store.clone(), Rehash { pinned_in: Vec::new(), tag: None }));
            if !check.pinned_in.contains(env) {
                check.pinned_in.push(env.clone());
            }
        }
    }
    let mut opened: BTreeMap<String, Result<Store, String>> = BTreeMap::new();
    for ((key, bundle, digest), (location, check)) in &checks {
        let store = opened
            .entry(key.clone())
            .or_insert_with(|| Store::open(location, options).map_err(|e| e.to_string()));
        let mut report = |expected: String, found: String| {
            for env in &check.pinned_in {
                findings.push(error(
                    Check::Store,
                    Some(env),
                    Some(bundle),
                    commit.clone(),
                    expected.clone(),
                    found.clone(),
                ));
            }
        };
        let store = match store {
            Ok(store) => store,
            Err(e) => {
                report(format!("store `{key}` readable"), e.clone());
                continue;
            }
        };
        let blobs = store.blobs(bundle);
        match verify_bundle(blobs.as_ref(), digest, Limits::STANDARD) {
            Ok((_, problems)) => {
                for problem in problems {
                    report(format!("{} intact in `{key}`", digest.short()), problem.to_string());
                }
            }
            Err(e) => report(format!("{} in `{key}`", digest.short()), e.to_string()),
        }
        let Some(tag) = &check.tag else { continue };
        let (expected, found) = match store.resolve(bundle, &Selector::Tag(tag.clone())) {
            Ok(tagged) if tagged == *digest => continue,
            Ok(tagged) => (
                format!("tag {bundle}:{tag} on {}", digest.short()),
                format!("it points to {}", tagged.short()),
            ),
            Err(e) => (format!("tag {bundle}:{tag}"), e.to_string()),
        };
        for env in &check.pinned_in {
            findings.push(error(
                Check::Tag,
                Some(env),
                Some(bundle),
                commit.clone(),
                expected.clone(),
                found.clone(),
            ));
        }
    }
    checks.len()
}

/// The evidence each pin relies on (the bundle signatures its `signed_by` gate counted, its
/// attestation), checked in its environment's store by the applier's own check
/// ([`View::pin_evidence`]): the current pins, and with `deep` every pin in the timeline. Returns
/// the DSSE envelope of every attestation that holds, once each, oldest first.
pub(crate) fn evidence(
    view: &View,
    pins: &[(EnvName, StateRecord)],
    history: &History,
    deep: bool,
    options: &RegistryOptions,
    findings: &mut Vec<Finding>,
) -> Result<Vec<String>, AuditError> {
    let mut checked: Vec<(&EnvName, &BundleName, &str)> = Vec::new();
    let mut opened: BTreeMap<String, Result<Store, String>> = BTreeMap::new();
    let mut envelopes: Vec<String> = Vec::new();
    for event in &history.timeline {
        let current = pins.iter().any(|(env, pin)| {
            *env == event.environment && pin.bundle == event.bundle && pin.digest == event.digest
        }) && history
            .timeline
            .iter()
            .rev()
            .find(|e| e.environment == event.environment && e.bundle == event.bundle)
            .is_some_and(|last| last.commit == event.commit);
        let relies_on_nothing = event.signatures.is_empty()
            && event.attestation.is_none()
            && event.verifications.is_empty();
        if !(current || deep) || relies_on_nothing {
            continue;
        }
        if checked.contains(&(&event.environment, &event.bundle, event.commit.as_str())) {
            continue;
        }
        checked.push((&event.environment, &event.bundle, event.commit.as_str()));
        let Ok(commit) = baton_state::ObjectId::from_hex(event.commit.as_bytes()) else { continue };
        let (env, bundle) = (&event.environment, &event.bundle);
        let location = match view.environment(env.as_str()) {
            Ok(environment) => environment.store.clone(),
            Err(_) => {
                match history.ever.get(&(env.clone(), bundle.clone(), event.digest.clone())) {
                    Some(store) => store.clone(),
                    None => continue,
                }
            }
        };
        let Ok(location) = view.locate(&location) else { continue };
        let store = opened
            .entry(location.to_string())
            .or_insert_with(|| Store::open(&location, options).map_err(|e| e.to_string()));
        let Ok(store) = store else { continue }; // the store check reports it unreadable
        let claims = baton_view::Claims {
            bundle,
            digest: &event.digest,
            by: &event.by,
            signatures: &event.signatures,
            attestation: event.attestation.as_ref(),
            from: event.from.as_ref(),
            verifications: &event.verifications,
            params_digest: &event.params_digest,
            published: event.published.as_ref(),
        };
        let checked = view.pin_evidence(store, env, claims, commit)?;
        for problem in checked.problems {
            findings.push(error(
                Check::Evidence,
                Some(env),
                Some(bundle),
                Some(event.commit.clone()),
                problem.expected,
                problem.found,
            ));
        }
        if let Some(line) = checked.envelope
            && !envelopes.contains(&line)
        {
            envelopes.push(line);
        }
    }
    Ok(envelopes)
}

/// Each target's applied record against its pin, and its files against the record. A target
/// whose directory does not exist from here is reported as a notice: not reachable.
/// (Long because each way a target can disagree with its pin is its own finding with its own
/// words.)
pub(crate) fn targets(
    view: &View,
    scope: &Scope,
    applied_dir: &std::path::Path,
    findings: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    for environment in view.pipeline.environments() {
        let env = &environment.name;
        let Some(target) = &environment.target else { continue };
        if scope.env.as_ref().is_some_and(|e| e != env) {
            continue;
        }
        let pins = view.pins_in(env)?;
        for pin in pins.iter().filter(|p| scope.covers(env, &p.bundle)) {
            let home = Home::of(target, view.repo.paths_root(), applied_dir, env, &pin.bundle);
            let reports = match drift(&home, pin) {
                Ok(report) => [report],
                Err(e) => {
                    findings.push(error(
                        Check::Target,
                        Some(env),
                        Some(&pin.bundle),
                        None,
                        "a target that can be read".into(),
                        e.to_string(),
                    ));
                    continue;
                }
            };
            for report in reports {
                let place = report.target.display().to_string();
                let reachable = report.target.parent().is_some_and(std::path::Path::is_dir);
                let (severity, check, expected, found) = if report.never_applied && !reachable {
                    (
                        Severity::Notice,
                        Check::Target,
                        format!("the target directory `{place}` reachable from here"),
                        "it does not exist here: not checked".to_owned(),
                    )
                } else if report.never_applied {
                    (
                        Severity::Error,
                        Check::Target,
                        format!("an applied record of {} at `{place}`", pin.digest.short()),
                        "nothing applied".to_owned(),
                    )
                } else if !report.pinned {
                    (
                        Severity::Error,
                        Check::Target,
                        format!(
                            "{} {} applied (params {})",
                            pin.version,
                            pin.digest.short(),
                            pin.params_digest.short()
                        ),
                        format!(
                            "`{place}` applied {}",
                            report.applied.as_ref().map_or("nothing", Digest::short)
                        ),
                    )
                } else if !report.differences.is_empty() {
                    let d = &report.differences;
                    let mut paths: Vec<&str> = d
                        .changed
                        .iter()
                        .chain(&d.added)
                        .chain(&d.removed)
                        .map(String::as_str)
                        .collect();
                    paths.truncate(5);
                    (
                        Severity::Error,
                        Check::Drift,
                        format!("the files of {} as applied at `{place}`", pin.digest.short()),
                        format!(
                            "{} changed, {} added, {} removed ({})",
                            d.changed.len(),
                            d.added.len(),
                            d.removed.len(),
                            paths.join(", ")
                        ),
                    )
                } else {
                    continue;
                };
                findings.push(Finding {
                    severity,
                    check,
                    environment: Some(env.clone()),
                    bundle: Some(pin.bundle.clone()),
                    commit: None,
                    expected,
                    found,
                });
            }
        }
    }
    Ok(())
}

/// What the expected targets of each environment that lists them reported about its current
/// pins, from the reports in its store: a target that reported the pin FAILED or drifted, a
/// target silent for longer than `silent_after` since the pin, and a report of the environment
/// that does not hold are errors; a target that has not reported a pin younger than that is
/// a notice (it is converging).
pub(crate) fn running(
    view: &View,
    pins: &[(EnvName, StateRecord)],
    options: &RegistryOptions,
    now: jiff::Timestamp,
    findings: &mut Vec<Finding>,
) {
    let commit = view.snapshot.commit.map(|c| c.to_string());
    let mut opened: BTreeMap<EnvName, Result<Store, baton_view::ViewError>> = BTreeMap::new();
    for (env_name, pin) in pins {
        let Ok(env) = view.environment(env_name.as_str()) else { continue };
        if env.targets.is_none() {
            continue;
        }
        let read =
            match opened.entry(env_name.clone()).or_insert_with(|| view.open_store(env, options)) {
                Ok(store) => {
                    view.running(env, pin, store, now).map_err(|e| baton_view::error_chain(&e))
                }
                Err(e @ baton_view::ViewError::LocalStore { .. }) => {
                    local_store_notice(env_name, &pin.bundle, commit.clone(), e, findings);
                    continue;
                }
                Err(e) => Err(baton_view::error_chain(e)),
            };
        let running = match read {
            Ok(Some(running)) => running,
            Ok(None) => continue,
            Err(why) => {
                findings.push(error(
                    Check::Running,
                    Some(env_name),
                    Some(&pin.bundle),
                    commit.clone(),
                    "the targets' reports readable in the environment's store".into(),
                    why,
                ));
                continue;
            }
        };
        running_findings(&running, commit.as_ref(), findings);
    }
}

/// The findings of one pin's running state.
fn running_findings(
    running: &baton_view::Running,
    commit: Option<&String>,
    findings: &mut Vec<Finding>,
) {
    use baton_view::RunState;
    let (env, bundle) = (&running.environment, &running.bundle);
    let short = running.digest.short();
    let window = format!("{}s", running.silent_after_seconds);
    let mut push = |severity: Severity, expected: String, found: String| {
        findings.push(Finding {
            severity,
            check: Check::Running,
            environment: Some(env.clone()),
            bundle: Some(bundle.clone()),
            commit: commit.cloned(),
            expected,
            found,
        });
    };
    for target in &running.targets {
        let expected =
            format!("`{}` of `{env}` runs {short} and reported it verified", target.target);
        let last = match (&target.running, target.at) {
            (Some(running), Some(at)) => {
                format!("it last reported running {} at {at}", running.short())
            }
            _ => "it never reported".to_owned(),
        };
        let report =
            target.report.as_ref().map(|r| format!(" (report {})", r.short())).unwrap_or_default();
        match target.state {
            RunState::Verified | RunState::Applied => {}
            RunState::Failed => push(
                Severity::Error,
                expected,
                format!(
                    "its verification of {short} FAILED; {last}{report}: fix the bundle and promote a new digest"
                ),
            ),
            RunState::Drifted => push(
                Severity::Error,
                expected,
                format!(
                    "it reported drift from {short} it did not heal{report}: heal it (`baton apply`) or find who changed it"
                ),
            ),
            RunState::Behind | RunState::Unreported if target.silent => push(
                Severity::Error,
                expected,
                format!(
                    "silent: no report of {short} within {window} of the pin at {}; {last}{report}: check its agent (its health file, its logs)",
                    running.pinned_at
                ),
            ),
            RunState::Behind | RunState::Unreported => push(
                Severity::Notice,
                expected,
                format!(
                    "not reported yet (pinned at {}, within {window}); {last}{report}",
                    running.pinned_at
                ),
            ),
        }
    }
    if running.unnamed_missing > 0 {
        push(
            if running.overdue { Severity::Error } else { Severity::Notice },
            format!("{} targets of `{env}` report {short}", running.expected),
            format!(
                "{} never reported it (pinned at {})",
                running.unnamed_missing, running.pinned_at
            ),
        );
    }
    for invalid in &running.invalid {
        push(
            Severity::Error,
            format!("every report of `{env}` in its store signed by its target's listed key"),
            invalid.clone(),
        );
    }
}
