//! `baton audit`: every finding (human or JSON), a verdict per pin, and with `--report` a
//! self-contained HTML file; exit 4 when any finding is an error.

use anyhow::{Context, Result};
use baton_audit::{Options, Scope, Severity, audit, html};
use baton_store::RegistryOptions;

use crate::{
    ExitStatus,
    cli::AuditArgs,
    commands::{
        apply::{applied_dir, cache_dir},
        open_state_for_audit,
    },
    printer::{GREEN, Printer, RED},
};

/// Long because the audit has three outputs (table, JSON, HTML file) and a rewritten remote that is
/// a finding rather than an error; each is a few lines.
pub(crate) fn run(
    args: &AuditArgs,
    printer: &Printer,
    registry: &RegistryOptions,
) -> Result<ExitStatus> {
    // The auditor reads targets' records and files; it needs no secret and renders nothing.
    let view = match open_state_for_audit(&args.state, &cache_dir(&args.applier)) {
        Ok(view) => view,
        // A remote whose branch no longer holds what the mirror fetched before: that is a
        // finding about the history, not a failure to run.
        Err(error)
            if error
                .downcast_ref::<baton_state::StateError>()
                .is_some_and(|e| matches!(e, baton_state::StateError::Rewritten { .. })) =>
        {
            printer.error(&error);
            return Ok(ExitStatus::Findings);
        }
        Err(error) => return Err(error),
    };
    let scope = Scope {
        env: match &args.env {
            Some(name) => Some(view.environment(name)?.name.clone()),
            None => None,
        },
        bundle: args.bundle.clone(),
        since: args.since,
        deep: args.deep,
    };
    let options = Options {
        registry,
        targets: args.targets.then(|| applied_dir(&args.applier)),
        at: jiff::Timestamp::now(),
    };
    let report = audit(&view, &scope, &options).context("the audit could not run")?;
    if let Some(path) = &args.report {
        baton_fs::write_atomic(path, html(&report).as_bytes())
            .with_context(|| format!("cannot write the HTML report to `{}`", path.display()))?;
    }
    if let Some(path) = &args.export {
        let mut lines = report.attestations.join("\n");
        if !lines.is_empty() {
            lines.push('\n');
        }
        baton_fs::write_atomic(path, lines.as_bytes())
            .with_context(|| format!("cannot write the evidence to `{}`", path.display()))?;
    }
    if printer.is_json() {
        printer.json(&report)?;
    } else {
        for f in &report.findings {
            let word = match f.severity {
                Severity::Error => printer.paint(RED, "error"),
                Severity::Notice => "notice".to_owned(),
            };
            let place = format!(
                "{}/{}",
                f.environment.as_ref().map_or("-", |e| e.as_str()),
                f.bundle.as_ref().map_or("-", |b| b.as_str())
            );
            let commit = f
                .commit
                .as_deref()
                .map_or(String::new(), |c| format!(" commit {}", &c[..c.len().min(12)]));
            printer.record(&format!(
                "{word} [{}] {place}{commit}: expected {}; found {}",
                f.check, f.expected, f.found
            ))?;
        }
        let rows: Vec<Vec<String>> = report
            .summary
            .iter()
            .map(|v| {
                let verdict = if v.findings == 0 {
                    printer.paint(GREEN, "ok")
                } else {
                    printer.paint(RED, &format!("{} finding(s)", v.findings))
                };
                vec![
                    v.environment.to_string(),
                    v.bundle.to_string(),
                    v.version.clone(),
                    v.digest.short().to_owned(),
                    verdict,
                ]
            })
            .collect();
        printer.table(&["ENV", "BUNDLE", "VERSION", "DIGEST", "VERDICT"], &rows)?;
        let errors = report.findings.iter().filter(|f| f.severity == Severity::Error).count();
        let notices = report.findings.len() - errors;
        printer.status(
            "Audited",
            &format!(
                "{} commits, {} bundle(s) re-hashed{}: {errors} finding(s), {notices} notice(s)",
                report.commits,
                report.bundles_verified,
                if report.targets { ", targets checked" } else { "" },
            ),
        );
        if let Some(path) = &args.report {
            printer.status("Wrote", &path.display().to_string());
        }
        if let Some(path) = &args.export {
            let count = report.attestations.len();
            printer.status("Exported", &format!("{count} attestation(s) to {}", path.display()));
        }
    }
    Ok(if report.failed() { ExitStatus::Findings } else { ExitStatus::Success })
}
