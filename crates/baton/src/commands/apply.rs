//! `baton plan`, `apply`, `drift` and `agent`: thin wrappers over `baton_apply`.

use anyhow::Result;
use baton_apply::{ApplyAction, ApplyOptions, DriftReport, apply, drift, plan};
use baton_store::{Progress, RegistryOptions};

use crate::{
    ExitStatus,
    cli::{ApplierArgs, Command},
    commands::{bundle::transfer_progress, open_state},
    env,
    printer::Printer,
};

pub(crate) fn run(
    command: Command,
    printer: &Printer,
    registry: &RegistryOptions,
) -> Result<ExitStatus> {
    let (_bar, progress) = transfer_progress(printer, "fetching");
    let options = |applier: &ApplierArgs| apply_options(applier, registry, &progress);
    match command {
        Command::Plan(args) => {
            let options = options(&args.applier);
            let view = open_state(&args.state, &options.cache)?;
            let plans = plan(&view, &args.env, args.bundle.as_ref(), &options)?;
            if printer.is_json() {
                printer.json(&plans)?;
                return Ok(ExitStatus::Success);
            }
            for p in &plans {
                let d = &p.differences;
                printer.status(
                    "Plan",
                    &format!(
                        "{} in {}: {} added, {} changed, {} removed",
                        p.bundle,
                        p.environment,
                        d.added.len(),
                        d.changed.len(),
                        d.removed.len()
                    ),
                );
                if !p.diff.is_empty() {
                    printer.line(p.diff.trim_end())?;
                }
            }
            Ok(ExitStatus::Success)
        }
        Command::Apply(args) => {
            let options = options(&args.applier);
            let view = open_state(&args.state, &options.cache)?;
            let done = apply(&view, &args.env, args.bundle.as_ref(), &options)?;
            if printer.is_json() {
                printer.json(&done)?;
                return Ok(ExitStatus::Success);
            }
            for a in &done {
                let verb = match a.action {
                    ApplyAction::Unchanged => "Unchanged",
                    ApplyAction::Swapped => "Swapped",
                    ApplyAction::Healed => "Healed",
                    ApplyAction::Applied | ApplyAction::Drift => "Applied",
                };
                printer.status(
                    verb,
                    &format!(
                        "{} {} {} to {} ({})",
                        a.bundle, a.version, a.digest, a.environment, a.release
                    ),
                );
            }
            Ok(ExitStatus::Success)
        }
        Command::Drift(args) => {
            let options = options(&args.applier);
            let view = open_state(&args.state, &options.cache)?;
            let reports = drift(&view, &args.env, args.bundle.as_ref(), &options)?;
            print_drift(printer, &reports)
        }
        Command::Agent(args) => {
            let options = options(&args.applier);
            crate::agent::run(&args, printer, &options)
        }
        _ => unreachable!("dispatched elsewhere"),
    }
}

/// The cache (`--cache`, default under the XDG cache directory).
pub(crate) fn cache_dir(applier: &ApplierArgs) -> std::path::PathBuf {
    applier.cache.clone().unwrap_or_else(env::default_cache)
}

/// Where exec targets keep releases and records (`--applied-dir`, default under XDG state).
pub(crate) fn applied_dir(applier: &ApplierArgs) -> std::path::PathBuf {
    applier.applied_dir.clone().unwrap_or_else(env::default_applied_dir)
}

/// The applier's settings from its arguments: the cache and applied dir, secrets from the
/// process environment, the wall clock.
pub(crate) fn apply_options<'a>(
    applier: &ApplierArgs,
    registry: &'a RegistryOptions,
    progress: &'a Progress,
) -> ApplyOptions<'a> {
    ApplyOptions {
        cache: cache_dir(applier),
        applied_dir: applied_dir(applier),
        registry,
        lookup: &env::secret_from_env,
        secrets_dir: applier.secrets_dir.clone(),
        progress,
        clock: &jiff::Timestamp::now,
    }
}

pub(crate) fn print_drift(printer: &Printer, reports: &[DriftReport]) -> Result<ExitStatus> {
    let clean = reports.iter().all(DriftReport::is_clean);
    if printer.is_json() {
        printer.json(&reports)?;
    } else {
        for r in reports {
            if r.is_clean() {
                printer.status("Clean", &format!("{} in {}", r.bundle, r.environment));
                continue;
            }
            if r.never_applied {
                printer.line(&format!("{} in {}: never applied", r.bundle, r.environment))?;
                continue;
            }
            if !r.pinned {
                printer.line(&format!(
                    "{} in {}: the applied digest is not the pinned one",
                    r.bundle, r.environment
                ))?;
            }
            if let Some(problem) = &r.current {
                printer.line(&format!("{} in {}: {problem}", r.bundle, r.environment))?;
            }
            for (word, paths) in [
                ("changed", &r.differences.changed),
                ("added", &r.differences.added),
                ("removed", &r.differences.removed),
            ] {
                for path in paths {
                    printer.line(&format!("{} in {}: {word} {path}", r.bundle, r.environment))?;
                }
            }
        }
    }
    Ok(if clean { ExitStatus::Success } else { ExitStatus::Findings })
}
