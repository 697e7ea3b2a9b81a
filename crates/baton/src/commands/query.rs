//! `baton status`, `diff` and `history`: the read-only questions, answered from git by
//! `baton-view` (and, for environments that expect targets, from their reports in the
//! environment's store), printed as tables or one JSON document.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use baton_model::{Action, BundleName};
use baton_store::RegistryOptions;
use baton_view::{RunState, View, diff, history, status};
use jiff::Timestamp;

use crate::{
    ExitStatus,
    cli::Command,
    commands::open,
    printer::{DIM, GREEN, Printer, RED, YELLOW},
};

pub(crate) fn run(
    command: Command,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        Command::Status(args) => print_status(printer, &open(&args.state)?, options),
        Command::Diff(args) => {
            let view = open(&args.state)?;
            print_diff(printer, &view, &args.a, &args.b, args.bundle.as_ref())
        }
        Command::History(args) => {
            let view = open(&args.state)?;
            print_history(printer, &view, &args.env, args.bundle.as_ref(), options)
        }
        _ => unreachable!("dispatched elsewhere"),
    }
}

fn print_history(
    printer: &Printer,
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let entries = history(view, env, bundle, Some(options))?;
    if printer.is_json() {
        printer.json(&entries)?;
        return Ok(ExitStatus::Success);
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for e in &entries {
        // Reports under their pin, newest first as the pins are.
        for r in e.reports.iter().rev() {
            let what = match r.result {
                Some(result) => format!("report: {} {}", r.action.as_str(), result.as_str()),
                None => format!("report: {}", r.action.as_str()),
            };
            rows.push(vec![
                printer.paint(DIM, &r.at.to_string()),
                e.bundle.to_string(),
                what,
                String::new(),
                r.running.short().to_owned(),
                String::new(),
                r.target.to_string(),
                format!("report {}", r.report.short()),
            ]);
        }
        rows.push(vec![
            e.at.to_string(),
            e.bundle.to_string(),
            e.action.to_string(),
            e.version.clone().unwrap_or_default(),
            e.digest.short().to_owned(),
            e.from.clone().unwrap_or_default(),
            e.by.to_string(),
            e.signature.to_string(),
        ]);
    }
    printer.table(
        &["AT", "BUNDLE", "ACTION", "VERSION", "DIGEST", "FROM", "BY", "SIGNATURE"],
        &rows,
    )?;
    Ok(ExitStatus::Success)
}

fn print_status(printer: &Printer, view: &View, options: &RegistryOptions) -> Result<ExitStatus> {
    let rows = status(view, Timestamp::now(), Some(options))?;
    if printer.is_json() {
        printer.json(&rows)?;
        return Ok(ExitStatus::Success);
    }
    let envs: Vec<String> =
        view.pipeline.environments().iter().map(|e| e.name.to_string()).collect();
    let mut by_bundle: BTreeMap<BundleName, BTreeMap<String, String>> = BTreeMap::new();
    for row in &rows {
        let mut cell = format!(
            "{} {} {} {}",
            row.version,
            row.digest.short(),
            printer.paint(DIM, &age(row.age_seconds)),
            row.by
        );
        // A pin that no gate let through says so where it is shown.
        match row.action {
            Action::BreakGlass => cell.push_str(&printer.paint(RED, " [break-glass]")),
            Action::Rollback => cell.push_str(&printer.paint(YELLOW, " [rollback]")),
            Action::Promote | Action::Approve => {}
        }
        by_bundle.entry(row.bundle.clone()).or_default().insert(row.environment.to_string(), cell);
    }
    let mut headers = vec!["BUNDLE"];
    headers.extend(envs.iter().map(String::as_str));
    let table: Vec<Vec<String>> = by_bundle
        .into_iter()
        .map(|(bundle, cells)| {
            let mut row = vec![bundle.to_string()];
            row.extend(envs.iter().map(|e| cells.get(e).cloned().unwrap_or_else(|| "-".into())));
            row
        })
        .collect();
    if table.is_empty() {
        printer.status("Empty", "nothing is pinned yet: `baton promote NAME --to ENV …`");
    }
    printer.table(&headers, &table)?;
    for row in rows.iter().filter(|r| matches!(r.action, Action::BreakGlass | Action::Rollback)) {
        let what = if row.action == Action::BreakGlass { "break-glass" } else { "rollback" };
        let why = row.reason.as_deref().unwrap_or("no reason given");
        printer
            .line(&format!("  {} {}: {what} by {}: {why}", row.environment, row.bundle, row.by))?;
    }
    for row in &rows {
        if let Some(running) = &row.running {
            print_running(printer, running)?;
        }
        if let Some(error) = &row.running_error {
            printer.warn(&format!(
                "{} {}: the targets' reports cannot be read: {error}",
                row.environment, row.bundle
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// Desired and running of one pin: a line, then each expected target.
fn print_running(printer: &Printer, running: &baton_view::Running) -> Result<()> {
    let style = if running.converged == running.expected { GREEN } else { YELLOW };
    printer.line("")?;
    printer.line(&format!(
        "{} {}: pins {}, running it on {}",
        running.environment,
        running.bundle,
        running.digest.short(),
        printer.paint(style, &format!("{}/{}", running.converged, running.expected))
    ))?;
    let rows: Vec<Vec<String>> = running
        .targets
        .iter()
        .map(|t| {
            let state = match t.state {
                RunState::Verified | RunState::Applied => printer.paint(GREEN, t.state.as_str()),
                RunState::Failed | RunState::Drifted => printer.paint(RED, t.state.as_str()),
                RunState::Behind | RunState::Unreported => printer.paint(YELLOW, t.state.as_str()),
            };
            let silent = if t.silent {
                printer.paint(
                    RED,
                    &format!(
                        "silent: no report {} after the pin",
                        age(running.silent_after_seconds)
                    ),
                )
            } else {
                String::new()
            };
            vec![
                t.target.to_string(),
                state,
                t.running.as_ref().map_or_else(|| "-".to_owned(), |d| d.short().to_owned()),
                t.result.map_or_else(|| "-".to_owned(), |r| r.as_str().to_owned()),
                t.age_seconds.map_or_else(|| "-".to_owned(), |a| format!("{} ago", age(a))),
                silent,
            ]
        })
        .collect();
    printer.table(&["TARGET", "STATE", "RUNNING", "RESULT", "REPORTED", ""], &rows)?;
    if running.unnamed_missing > 0 {
        printer.line(&format!(
            "  {} expected target(s) never reported{}",
            running.unnamed_missing,
            if running.overdue { " (silent)" } else { "" }
        ))?;
    }
    for invalid in &running.invalid {
        printer.warn(&format!("{} {}: {invalid}", running.environment, running.bundle));
    }
    Ok(())
}

fn print_diff(
    printer: &Printer,
    view: &View,
    a: &str,
    b: &str,
    bundle: Option<&BundleName>,
) -> Result<ExitStatus> {
    let diffs = diff(view, a, b, bundle).context("cannot compare environments")?;
    if printer.is_json() {
        printer.json(&diffs)?;
        return Ok(ExitStatus::Success);
    }
    let pin = |p: &Option<baton_view::PinSummary>| {
        p.as_ref()
            .map_or_else(|| "nothing".to_owned(), |p| format!("{} {}", p.version, p.digest.short()))
    };
    for d in &diffs {
        let verdict = if d.same_digest { "same digest" } else { "digests differ" };
        printer.line(&format!(
            "{}: {a} {} | {b} {} ({verdict})",
            d.bundle,
            pin(&d.a),
            pin(&d.b)
        ))?;
        for p in &d.params {
            printer.line(&format!(
                "  {}: {} -> {}",
                p.name,
                p.a.as_ref().map_or_else(|| "(unset)".to_owned(), ToString::to_string),
                p.b.as_ref().map_or_else(|| "(unset)".to_owned(), ToString::to_string)
            ))?;
        }
    }
    Ok(ExitStatus::Success)
}

/// A coarse age: `45s`, `12m`, `3h`, `5d`.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{}s", s.max(0)),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    /// Under a minute an age is seconds, never `0m`.
    #[test]
    fn ages_under_a_minute_are_seconds() {
        assert_eq!(super::age(0), "0s");
        assert_eq!(super::age(45), "45s");
        assert_eq!(super::age(59), "59s");
        assert_eq!(super::age(60), "1m");
        assert_eq!(super::age(-3), "0s", "a clock behind the commit reads as now");
        let soak = |s: u64| baton_model::Duration::from_seconds(s).to_string();
        assert_eq!((soak(45), soak(90), soak(0)), ("45s".into(), "1m30s".into(), "0s".into()));
    }
}
