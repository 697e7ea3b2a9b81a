//! `baton audit`: every finding (human or JSON) and a verdict per pin; exit 4 when any finding
//! is an error.

use anyhow::{Context, Result};
use baton_audit::{Scope, Severity, audit};
use baton_store::RegistryOptions;

use crate::{
    ExitStatus,
    cli::AuditArgs,
    commands::promote::open,
    printer::{GREEN, Printer, RED},
};

pub(crate) fn run(
    args: &AuditArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let view = open(&args.state)?;
    let env = match &args.env {
        Some(name) => Some(view.environment(name)?.name.clone()),
        None => None,
    };
    let scope = Scope { env, bundle: args.bundle.clone(), since: args.since };
    let report = audit(&view, &scope, options).context("the audit could not run")?;
    let failed = report.findings.iter().any(|f| f.severity == Severity::Error);
    if printer.is_json() {
        printer.json(&serde_json::to_value(&report)?)?;
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
            printer.line(&format!(
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
                    v.digest.short().to_owned(),
                    verdict,
                ]
            })
            .collect();
        printer.table(&["ENV", "BUNDLE", "DIGEST", "VERDICT"], &rows)?;
        printer.status(
            "Audited",
            &format!("{} commits, {} finding(s)", report.commits, report.findings.len()),
        );
    }
    Ok(if failed { ExitStatus::Findings } else { ExitStatus::Success })
}
