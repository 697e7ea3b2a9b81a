//! `baton status`, `diff` and `history`: the read-only questions, answered from git alone by
//! `baton-view`, printed as tables or one JSON document.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use baton_model::BundleName;
use baton_store::RegistryOptions;
use baton_view::{View, diff, history, status};
use jiff::Timestamp;

use crate::{
    ExitStatus,
    cli::Command,
    commands::open,
    printer::{DIM, Printer},
};

pub(crate) fn run(
    command: Command,
    printer: &Printer,
    _options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        Command::Status(args) => print_status(printer, &open(&args.state)?),
        Command::Diff(args) => {
            let view = open(&args.state)?;
            print_diff(printer, &view, &args.a, &args.b, args.bundle.as_ref())
        }
        Command::History(args) => {
            print_history(printer, &open(&args.state)?, &args.env, args.bundle.as_ref())
        }
        _ => unreachable!("dispatched elsewhere"),
    }
}

fn print_history(
    printer: &Printer,
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
) -> Result<ExitStatus> {
    let entries = history(view, env, bundle)?;
    if printer.is_json() {
        printer.json(&entries)?;
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.at.to_string(),
                e.bundle.to_string(),
                e.action.to_string(),
                e.version.clone().unwrap_or_default(),
                e.digest.short().to_owned(),
                e.from.clone().unwrap_or_default(),
                e.by.to_string(),
                e.signature.to_string(),
            ]
        })
        .collect();
    printer.table(
        &["AT", "BUNDLE", "ACTION", "VERSION", "DIGEST", "FROM", "BY", "SIGNATURE"],
        &rows,
    )?;
    Ok(ExitStatus::Success)
}

fn print_status(printer: &Printer, view: &View) -> Result<ExitStatus> {
    let rows = status(view, Timestamp::now())?;
    if printer.is_json() {
        printer.json(&rows)?;
        return Ok(ExitStatus::Success);
    }
    let envs: Vec<String> =
        view.pipeline.environments().iter().map(|e| e.name.to_string()).collect();
    let mut by_bundle: BTreeMap<BundleName, BTreeMap<String, String>> = BTreeMap::new();
    for row in &rows {
        let cell = format!(
            "{} {} {} {}",
            row.version,
            row.digest.short(),
            printer.paint(DIM, &age(row.age_seconds)),
            row.by
        );
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
    Ok(ExitStatus::Success)
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
                p.a.as_deref().unwrap_or("(unset)"),
                p.b.as_deref().unwrap_or("(unset)")
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
