//! `baton init`, `promote`, `approve`, `status`, `diff`, `history`, `rollback`: thin wrappers
//! over `baton_promote`, printing for people or as one JSON document.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use baton_model::BundleName;
use baton_promote::{
    ApproveRequest, PromoteRequest, Promotion, RollbackRequest, approve, init, promote, rollback,
};
use baton_state::StateRepo;
use baton_store::RegistryOptions;
use baton_view::{GateOutcome, View, diff, history, status};
use jiff::Timestamp;

use crate::{
    ExitStatus,
    cli::{Command, StateArgs},
    commands::bundle::transfer_progress,
    printer::{DIM, GREEN, Printer, RED, human_size},
};

pub(crate) fn run(
    command: Command,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        Command::Bundle(_)
        | Command::Plan(_)
        | Command::Apply(_)
        | Command::Drift(_)
        | Command::Agent(_)
        | Command::Audit(_)
        | Command::Verify(_) => unreachable!("dispatched elsewhere"),
        Command::Init(args) => {
            let done = init(&args.dir, args.actor.as_.as_deref(), Timestamp::now())?;
            if printer.is_json() {
                printer.json(&done)?;
            } else {
                printer.status("Initialised", &format!("state repository {}", done.path));
                for file in &done.files {
                    printer.line(file)?;
                }
            }
            Ok(ExitStatus::Success)
        }
        Command::Promote(args) => {
            let mut view = open(&args.state)?;
            let (bar, progress) = transfer_progress(printer, &format!("copying {}", args.bundle));
            let request = PromoteRequest {
                bundle: args.bundle,
                to: args.to,
                digest: args.digest,
                from_store: args.from_store,
                as_: args.actor.as_,
                allow_superseded: args.allow_superseded,
                break_glass: args.break_glass,
                options,
                progress: &progress,
                sign_key: args.actor.sign_key.as_deref(),
                at: Timestamp::now(),
            };
            let result = promote(&mut view, &request);
            bar.finish_and_clear();
            print_promotion(printer, &result?)
        }
        Command::Approve(args) => {
            let mut view = open(&args.state)?;
            let request = ApproveRequest {
                bundle: args.bundle,
                env: args.env,
                digest: args.digest,
                as_: args.actor.as_,
                comment: args.comment,
                sign_key: args.actor.sign_key.as_deref(),
                at: Timestamp::now(),
            };
            let done = approve(&mut view, &request)?;
            if printer.is_json() {
                printer.json(&done)?;
            } else {
                let what = format!(
                    "{} {} for {} by {}",
                    done.bundle, done.digest, done.environment, done.by
                );
                if done.no_op {
                    printer.status("Unchanged", &format!("{what} (approved already)"));
                } else {
                    printer.status("Approved", &what);
                }
            }
            Ok(ExitStatus::Success)
        }
        Command::Rollback(args) => {
            let mut view = open(&args.state)?;
            let request = RollbackRequest {
                bundle: args.bundle,
                env: args.env,
                to: args.to,
                as_: args.actor.as_,
                options,
                sign_key: args.actor.sign_key.as_deref(),
                at: Timestamp::now(),
            };
            print_promotion(printer, &rollback(&mut view, &request)?)
        }
        Command::Status(args) => print_status(printer, &open(&args.state)?),
        Command::Diff(args) => {
            let view = open(&args.state)?;
            print_diff(printer, &view, &args.a, &args.b, args.bundle.as_ref())
        }
        Command::History(args) => {
            print_history(printer, &open(&args.state)?, &args.env, args.bundle.as_ref())
        }
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
                e.at.clone(),
                e.bundle.to_string(),
                e.action.to_string(),
                e.version.clone().unwrap_or_default(),
                e.digest.short().to_owned(),
                e.from.clone().unwrap_or_default(),
                e.by.to_string(),
                e.signature.clone(),
            ]
        })
        .collect();
    printer.table(
        &["AT", "BUNDLE", "ACTION", "VERSION", "DIGEST", "FROM", "BY", "SIGNATURE"],
        &rows,
    )?;
    Ok(ExitStatus::Success)
}

pub(crate) fn open(args: &StateArgs) -> Result<View> {
    if let Some(url) = remote_url(args) {
        anyhow::bail!(
            "`--state {url}` is a URL: this command needs a local clone of the state repository (`git clone {url}`, then `--state PATH`); `apply`, `plan`, `drift`, `agent` and `audit` can read a URL through a read-only mirror"
        );
    }
    let start = args.state.as_deref().unwrap_or(Path::new("."));
    let repo = StateRepo::discover(start)?;
    Ok(View::open(repo)?)
}

/// Like [`open`], but `--state` may also be a URL (`file://…`, `ssh://…`): it is mirrored
/// read-only into `cache/state/<hash>` and fetched, refusing a rewritten history; relative paths
/// of its `baton.toml` resolve against the working directory.
pub(crate) fn open_state(args: &StateArgs, cache: &Path) -> Result<View> {
    let Some(url) = remote_url(args) else { return open(args) };
    let mirror = cache.join("state").join(baton_model::Digest::of(url.as_bytes()).short());
    let here = std::path::absolute(".")?;
    let repo = StateRepo::mirror(url, &mirror, &here)?;
    Ok(View::open(repo)?)
}

/// `--state` when it is a URL (`file://…`, `ssh://…`) rather than a path.
fn remote_url(args: &StateArgs) -> Option<&str> {
    args.state.as_ref().and_then(|p| p.to_str()).filter(|s| s.contains("://"))
}

fn print_promotion(printer: &Printer, done: &Promotion) -> Result<ExitStatus> {
    if printer.is_json() {
        printer.json(&done)?;
        return Ok(ExitStatus::Success);
    }
    let what = format!("{} {} {}", done.bundle, done.version, done.digest);
    if done.no_op {
        printer.status("Unchanged", &format!("{what} is pinned in {} already", done.environment));
        return Ok(ExitStatus::Success);
    }
    print_gates(printer, &done.gates);
    if let Some(copy) = &done.copy {
        printer.status(
            "Copied",
            &format!(
                "to {} ({} uploaded, {} linked or mounted, {} there already, {} in {:.2} s)",
                done.store,
                copy.blobs_uploaded,
                copy.blobs_mounted,
                copy.blobs_skipped,
                human_size(copy.bytes_uploaded),
                copy.seconds
            ),
        );
    }
    let verb = match done.action {
        baton_model::Action::Rollback => "Rolled back",
        baton_model::Action::BreakGlass => "Broke glass",
        _ => "Promoted",
    };
    let from = done.from.as_ref().map_or_else(|| done.source_store.clone(), ToString::to_string);
    let commit = done.commit.as_deref().map_or("", |c| &c[..c.len().min(12)]);
    printer.status(verb, &format!("{what} from {from} to {} (commit {commit})", done.environment));
    Ok(ExitStatus::Success)
}

fn print_gates(printer: &Printer, gates: &[GateOutcome]) {
    for gate in gates {
        let mark = if gate.held { printer.paint(GREEN, "ok") } else { printer.paint(RED, "no") };
        printer.status("Gate", &format!("{} {mark}: {}", gate.gate, gate.detail));
    }
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
