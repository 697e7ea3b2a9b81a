//! The self-contained HTML report: summary first (environments × bundles, a verdict each), the
//! findings, then per environment the chain of pin changes as a timeline with its evidence.
//! One file, no external asset and no script, so an auditor can archive it and read it offline.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::report::{Event, Report, Severity, Verdict};

const TEMPLATE: &str = include_str!("report.html");

#[derive(Serialize)]
struct Cell<'r> {
    version: &'r str,
    digest: &'r str,
    findings: usize,
}

#[derive(Serialize)]
struct Row<'r> {
    bundle: &'r str,
    cells: Vec<Option<Cell<'r>>>,
}

/// The findings of one environment, for the summary's last row.
#[derive(Serialize)]
struct Total {
    errors: usize,
    notices: usize,
}

#[derive(Serialize)]
struct Timeline<'r> {
    name: &'r str,
    events: Vec<&'r Event>,
}

#[derive(Serialize)]
struct Page<'r> {
    report: &'r Report,
    errors: usize,
    notices: usize,
    envs: Vec<&'r str>,
    rows: Vec<Row<'r>>,
    /// Per environment of `envs`, its findings (pinned bundles or not).
    totals: Vec<Total>,
    /// Findings that name no environment.
    unplaced: usize,
    timelines: Vec<Timeline<'r>>,
}

/// The report as one HTML page.
pub fn html(report: &Report) -> String {
    // Environments in pipeline order, as the summary lists them, then any only in history,
    // then any only a finding names: every environment with a finding has its column.
    let mut envs: Vec<&str> = Vec::new();
    for name in report
        .summary
        .iter()
        .map(|v| v.environment.as_str())
        .chain(report.timeline.iter().map(|e| e.environment.as_str()))
        .chain(
            report
                .findings
                .iter()
                .filter_map(|f| f.environment.as_ref().map(baton_model::EnvName::as_str)),
        )
    {
        if !envs.contains(&name) {
            envs.push(name);
        }
    }
    let verdicts: HashMap<(&str, &str), &Verdict> =
        report.summary.iter().map(|v| ((v.environment.as_str(), v.bundle.as_str()), v)).collect();
    let bundles: BTreeSet<&str> = report.summary.iter().map(|v| v.bundle.as_str()).collect();
    let rows = bundles
        .into_iter()
        .map(|bundle| Row {
            bundle,
            cells: envs
                .iter()
                .map(|env| {
                    verdicts.get(&(*env, bundle)).map(|v| Cell {
                        version: &v.version,
                        digest: v.digest.short(),
                        findings: v.findings,
                    })
                })
                .collect(),
        })
        .collect();
    let timelines = envs
        .iter()
        .map(|env| Timeline {
            name: env,
            events: report.timeline.iter().filter(|e| e.environment.as_str() == *env).collect(),
        })
        .filter(|t| !t.events.is_empty())
        .collect();
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    let totals = envs
        .iter()
        .map(|env| {
            let of = |s| {
                report
                    .findings
                    .iter()
                    .filter(|f| {
                        f.severity == s
                            && f.environment.as_ref().is_some_and(|e| e.as_str() == *env)
                    })
                    .count()
            };
            Total { errors: of(Severity::Error), notices: of(Severity::Notice) }
        })
        .collect();
    let unplaced = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && f.environment.is_none())
        .count();
    let page = Page {
        report,
        errors: count(Severity::Error),
        notices: count(Severity::Notice),
        envs,
        rows,
        totals,
        unplaced,
        timelines,
    };
    let mut env = minijinja::Environment::new();
    // Lenient: fields left out of the JSON when empty (`from`, `reason`, `why_not`) read as false.
    env.add_template("report.html", TEMPLATE)
        .expect("holds because the template is ours and tested");
    env.get_template("report.html")
        .and_then(|t| t.render(minijinja::value::Serde(&page)))
        .expect("holds because the template only reads fields the page has (tested)")
}
