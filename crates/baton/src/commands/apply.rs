//! `baton plan`, `apply`, `drift` and `agent`: thin wrappers over `baton_apply`.

use std::{fmt::Write as _, path::Path};

use anyhow::Context;
use anyhow::Result;
use baton_apply::{
    ApplyAction, ApplyOptions, DriftReport, RenderReport, Reporter, Verification, apply, drift,
    plan,
};
use baton_store::{Progress, RegistryOptions};

use crate::{
    ExitStatus,
    cli::{ApplierArgs, ApplyArgs, Command, RenderArgs, ReporterArgs},
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
    let reporting = |applier: &ApplierArgs, reporter: &ReporterArgs| -> Result<ApplyOptions<'_>> {
        Ok(ApplyOptions { reporter: reporter_of(reporter)?, ..options(applier) })
    };
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
        Command::Apply(ApplyArgs { target: args, reporter }) => {
            let options = reporting(&args.applier, &reporter)?;
            let view = open_state(&args.state, &options.cache)?;
            let done = apply(&view, &args.env, args.bundle.as_ref(), &options)?;
            // A verification that failed is a finding: the release is there, and does not work.
            let failed = done.iter().any(|a| a.verification.as_ref().is_some_and(|v| !v.passed()));
            let status = if failed { ExitStatus::Findings } else { ExitStatus::Success };
            if printer.is_json() {
                printer.json(&done)?;
                return Ok(status);
            }
            for a in &done {
                let verb = match a.action {
                    ApplyAction::Unchanged => "Unchanged",
                    ApplyAction::Swapped => "Swapped",
                    ApplyAction::Healed => "Healed",
                    ApplyAction::HeldBack => "Held back",
                    ApplyAction::Applied | ApplyAction::Drift => "Applied",
                };
                printer.status(
                    verb,
                    &format!(
                        "{} {} {} to {} ({})",
                        a.bundle, a.version, a.digest, a.environment, a.release
                    ),
                );
                if let Some(v) = &a.verification {
                    print_verification(printer, v);
                }
                if let Some(published) =
                    a.published.as_ref().filter(|_| a.action != ApplyAction::Unchanged)
                {
                    // The promotion or this apply published it: either way it is what the
                    // environment's tag names.
                    printer.status(
                        "Rendering",
                        &format!("{} published as {published}, tagged {}", a.bundle, a.environment),
                    );
                }
                if let Some(report) = &a.report {
                    printer.status("Reported", &format!("{} ({report})", a.bundle));
                }
            }
            Ok(status)
        }
        Command::Render(args) => render(&args, printer, &options(&args.applier)),
        Command::Publish(args) => publish(&args, printer, &options(&args.applier)),
        Command::Drift(args) => {
            let options = options(&args.applier);
            let view = open_state(&args.state, &options.cache)?;
            let reports = drift(&view, &args.env, args.bundle.as_ref(), &options)?;
            print_drift(printer, &reports)
        }
        Command::Agent(args) => {
            let options = reporting(&args.applier, &args.reporter)?;
            crate::agent::run(&args, printer, &options)
        }
        _ => unreachable!("dispatched elsewhere"),
    }
}

/// `baton publish`: the environment's rendering into its store, for Flux and Argo CD.
fn publish(
    args: &crate::cli::PublishRenderingArgs,
    printer: &Printer,
    options: &ApplyOptions<'_>,
) -> Result<ExitStatus> {
    let view = open_state(&args.state, &options.cache)?;
    let published = baton_apply::publish(&view, &args.env, &args.bundle, options)?;
    if printer.is_json() {
        printer.json(&published)?;
        return Ok(ExitStatus::Success);
    }
    printer.status(
        "Published",
        &format!(
            "{} {} for {} as {}/{}:{} ({}, {} files, {} bytes)",
            published.bundle,
            published.subject,
            published.environment,
            published.store,
            published.bundle,
            published.tag.as_deref().unwrap_or_default(),
            published.digest,
            published.files,
            published.layer.size
        ),
    );
    Ok(ExitStatus::Success)
}

/// `baton render`: into a directory (moved there whole), or as YAML documents on stdout.
fn render(args: &RenderArgs, printer: &Printer, options: &ApplyOptions<'_>) -> Result<ExitStatus> {
    let view = open_state(&args.state, &options.cache)?;
    let scratch;
    // The staging directory goes beside DIR, so the tree moves there by one rename.
    let under = if let Some(into) = &args.into {
        baton_fs::parent_of(into).to_owned()
    } else {
        scratch = tempfile::tempdir()?;
        scratch.path().to_owned()
    };
    let mut rendering =
        baton_apply::render(&view, &args.env, &args.bundle, &under, args.with_secrets, options)?;
    let consumers: Vec<_> = args.check.iter().map(|&c| c.into()).collect();
    if !consumers.is_empty() {
        rendering.report.problems = rendering.lint(&consumers)?;
    }
    let status = if rendering.report.problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Findings
    };
    if args.into.is_none() && !args.stdout {
        // `--check` alone: the tree was rendered to be looked at, not kept.
        return print_render(printer, &rendering.report, None).map(|()| status);
    }
    let Some(into) = &args.into else {
        let skipped = rendering.stream(&mut std::io::stdout().lock())?;
        if !skipped.is_empty() {
            printer.warn(&format!(
                "left out of the stream (not YAML or JSON, or kustomize's own file, which is no Kubernetes object): {}; `--into DIR` writes every file (then `kubectl diff -k DIR`)",
                skipped.join(", ")
            ));
        }
        return Ok(ExitStatus::Success);
    };
    let report = rendering.persist(into)?;
    print_render(printer, &report, Some(into)).map(|()| status)
}

/// What `render` wrote (or, with `--check` alone, rendered) and the problems it found.
fn print_render(printer: &Printer, report: &RenderReport, into: Option<&Path>) -> Result<()> {
    if printer.is_json() {
        return printer.json(report);
    }
    let templates = report.files.iter().filter(|f| f.rendered).count();
    let secret = report.files.iter().filter(|f| f.secret).count();
    let mut text = format!("{} {} for {}", report.bundle, report.digest, report.environment);
    if let Some(into) = into {
        let _ = write!(text, " into {}", into.display());
    }
    let _ = write!(text, " ({} files, {templates} rendered", report.files.len());
    if secret > 0 {
        let _ = write!(text, ", {secret} holding secrets at 0600");
    }
    text.push(')');
    printer.status("Rendered", &text);
    if !report.placeholders.is_empty() {
        printer.status(
            "Note",
            &format!(
                "{} rendered as placeholders (`<secret:NAME>`); --with-secrets resolves them",
                report.placeholders.join(", ")
            ),
        );
    }
    for problem in &report.problems {
        let path = if problem.path.is_empty() { "the tree" } else { problem.path.as_str() };
        printer.warn(&format!("{path} ({}): {}", problem.consumer, problem.problem));
    }
    if !report.problems.is_empty() {
        printer.status("Problems", &format!("{} (exit 4)", report.problems.len()));
    }
    Ok(())
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
        reporter: None,
    }
}

/// The reporter of `--target-id` with the evidence key of `--sign-key` (an SSH key).
fn reporter_of(args: &ReporterArgs) -> Result<Option<Reporter>> {
    let Some(target) = args.target_id.clone() else { return Ok(None) };
    let key = match &args.sign_key {
        None => None,
        Some(path) => {
            let key = baton_state::SigningKey::load(path)
                .with_context(|| format!("reading the report key {}", path.display()))?;
            Some(key.evidence_key().with_context(|| {
                format!(
                    "{} is an SSH {} key; reports are signed with ed25519 or ecdsa-p256 keys (`ssh-keygen -t ed25519`)",
                    path.display(),
                    key.kind()
                )
            })?)
        }
    };
    Ok(Some(Reporter { target, key }))
}

/// One line per check of a verification, and where it rolled back to.
pub(crate) fn print_verification(printer: &Printer, v: &Verification) {
    for check in &v.checks {
        let word = if check.passed { "Verified" } else { "Failed" };
        printer.status(
            word,
            &format!("{} ({}, attempt {})", check.name, check.outcome, check.attempts),
        );
    }
    if let Some(back) = &v.rolled_back_to {
        printer.status("Rolled back", &format!("to {back}: the verification failed"));
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
