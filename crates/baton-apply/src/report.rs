//! A target's reports, written into its environment's store (the only place an agent needs
//! push rights to) as referrers of the bundle, signed with the target's key.
//!
//! What the target last reported is kept beside its record (`.report.json`): a report is written
//! only when what it would say changed, and one that could not be written (a registry down) is
//! written by the next pass. So an idle pass makes no registry request.

use std::path::PathBuf;

use baton_model::{Digest, EnvName, TargetId};
use baton_store::{Store, evidence::attach_attestation, referrers::subject_of};
use baton_view::{ReportAction, TARGET_ANNOTATION, TargetReport, View};
use serde::{Deserialize, Serialize};

use crate::{Applied, ApplyAction, ApplyError, ApplyOptions, job::Job};

/// `.report.json`: the target's last report, and its digest once it is in the store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Memory {
    pub(crate) report: TargetReport,
    pub(crate) written: Option<Digest>,
}

fn memory_path(job: &Job<'_>) -> PathBuf {
    job.home.path.join(".report.json")
}

/// What the target last reported about its bundle; none when it never did or the file does not
/// parse (it is only a memory: the next report replaces it).
pub(crate) fn last(job: &Job<'_>) -> Option<Memory> {
    let text = fs_err::read_to_string(memory_path(job)).ok()?;
    serde_json::from_str(&text).ok()
}

fn remember(job: &Job<'_>, memory: &Memory) -> Result<(), ApplyError> {
    let mut bytes = serde_json::to_vec_pretty(memory).expect("holds because a report serialises");
    bytes.push(b'\n');
    baton_fs::write_atomic(&memory_path(job), &bytes).map_err(|e| job.home.io(e))?;
    Ok(())
}

/// The id a target that does not report is remembered under.
pub(crate) fn unreported() -> TargetId {
    "local".parse().expect("holds because `local` is a valid target id")
}

/// Writes `report` into the environment's store (opened once per pass into `store`) unless the
/// target already wrote the same (with another time). Returns the report's digest.
pub(crate) fn send(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    store: &mut Option<Store>,
    report: TargetReport,
) -> Result<Option<Digest>, ApplyError> {
    let Some(reporter) = &options.reporter else {
        // Remembered all the same: a rollback after a failed verification is not retried.
        remember(job, &Memory { report, written: None })?;
        return Ok(None);
    };
    if let Some(memory) = last(job)
        && memory.written.is_some()
        && (TargetReport { at: report.at, written: report.written, ..memory.report.clone() })
            == report
    {
        return Ok(memory.written);
    }
    // Remembered first, so that a report the store refuses now is written by the next pass.
    remember(job, &Memory { report: report.clone(), written: None })?;
    let store = match store {
        Some(store) => store,
        None => store.insert(job.view.open_store(&job.env, options.registry)?),
    };
    let (bundle, digest) = (&job.pin.bundle, &report.digest);
    let subject = subject_of(store, bundle, digest)?;
    let annotation = report.annotation();
    let descriptor = attach_attestation(
        store,
        bundle,
        &subject,
        &report.statement(),
        (report.predicate_type(), report.at),
        &[(TARGET_ANNOTATION, annotation.as_str())],
        reporter.key.as_ref(),
    )?;
    tracing::info!(bundle = %bundle, digest = %digest, report = %descriptor.digest, action = report.action.as_str(), verification = ?report.verification, "reported");
    remember(job, &Memory { report, written: Some(descriptor.digest.clone()) })?;
    Ok(Some(descriptor.digest))
}

/// Reports what `applied` did (a pending report, when it changed nothing).
pub(crate) fn send_applied(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    store: &mut Option<Store>,
    applied: &Applied,
) -> Result<Option<Digest>, ApplyError> {
    if applied.action == ApplyAction::Unchanged {
        return send_pending(job, options, store);
    }
    let target = options.reporter.as_ref().map_or_else(unreported, |r| r.target.clone());
    send(job, options, store, applied.report(&target, (options.clock)()))
}

/// Writes the report a pass before could not write, if there is one.
pub(crate) fn send_pending(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    store: &mut Option<Store>,
) -> Result<Option<Digest>, ApplyError> {
    match last(job) {
        Some(Memory { report, written: None })
            if options.reporter.as_ref().is_some_and(|r| r.target == report.target) =>
        {
            send(job, options, store, report)
        }
        _ => Ok(None),
    }
}

/// Whether the target last reported the pin's digest and params as failed and went back to the
/// release before: the agent does not try it again until the pin changes (`baton apply` does).
pub(crate) fn rolled_back_from_pin(job: &Job<'_>) -> bool {
    last(job).is_some_and(|m| {
        m.report.digest == job.pin.digest
            && m.report.params_digest == job.pin.params_digest
            && m.report.running != job.pin.digest
    })
}

/// Whether the target last reported the pin's digest drifted: drift left alone is reported once.
pub(crate) fn reported_drift(job: &Job<'_>) -> bool {
    last(job).is_some_and(|m| {
        m.report.digest == job.pin.digest && m.report.action == ReportAction::Drifted
    })
}

/// Refuses a reporter that would write reports nobody accepts: where the state repository
/// requires signatures (`.baton/allowed_signers`), the target needs a key listed for
/// `ID@ENV.target`; and an environment listing its targets must list this one.
pub(crate) fn check_reporter(
    view: &View,
    env: &baton_model::Environment,
    options: &ApplyOptions<'_>,
) -> Result<(), ApplyError> {
    let Some(reporter) = &options.reporter else { return Ok(()) };
    let target = &reporter.target;
    if let Some(expected) = &env.targets
        && !expected.admits(target)
    {
        return Err(unexpected(&env.name, target, expected));
    }
    let Some(signers) = view.allowed_signers_in(view.snapshot.tree)? else { return Ok(()) };
    let principal = target.principal(&env.name);
    let now = (options.clock)().as_second();
    let listed = signers.evidence_keys_for(&principal, now);
    match &reporter.key {
        None => Err(ApplyError::ReportKey {
            env: env.name.clone(),
            target: target.clone(),
            problem: format!(
                "the state repository requires signatures (.baton/allowed_signers) and no key was given: pass `--sign-key FILE` (an SSH ed25519 or ecdsa-p256 key) whose public key is listed for `{principal}`"
            ),
        }),
        Some(key) if !listed.iter().any(|k| k.keyid() == key.keyid()) => {
            Err(ApplyError::ReportKey {
                env: env.name.clone(),
                target: target.clone(),
                problem: format!(
                    "the key given (keyid {}) is not listed for `{principal}` in .baton/allowed_signers: add a line `{principal} <public key>` there",
                    key.keyid()
                ),
            })
        }
        Some(_) => Ok(()),
    }
}

fn unexpected(
    env: &EnvName,
    target: &TargetId,
    expected: &baton_model::ExpectedTargets,
) -> ApplyError {
    let listed = match expected {
        baton_model::ExpectedTargets::Ids(ids) => {
            ids.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
        }
        baton_model::ExpectedTargets::Count(n) => format!("{n} targets"),
    };
    ApplyError::ReportKey {
        env: env.clone(),
        target: target.clone(),
        problem: format!(
            "`{env}` expects {listed} (`targets` in baton.toml), not `{target}`: add it there, or run with one of those ids"
        ),
    }
}
