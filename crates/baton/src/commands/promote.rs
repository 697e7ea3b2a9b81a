//! `baton init`, `promote`, `approve`, `rollback`: thin wrappers over `baton_promote`, printing
//! for people or as one JSON document.

use anyhow::Result;
use baton_promote::{
    ApproveRequest, PromoteRequest, Promotion, RollbackRequest, approve, init, promote, rollback,
};
use baton_store::RegistryOptions;
use baton_view::GateOutcome;
use jiff::Timestamp;

use crate::{
    ExitStatus,
    cli::Command,
    commands::{bundle::transfer_progress, open_writer},
    printer::{GREEN, Printer, RED, human_size},
};

/// Long because each of the four writers builds its request from its arguments in a few lines.
pub(crate) fn run(
    command: Command,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        Command::Bundle(_)
        | Command::Plan(_)
        | Command::Apply(_)
        | Command::Render(_)
        | Command::Publish(_)
        | Command::Drift(_)
        | Command::Agent(_)
        | Command::Audit(_)
        | Command::Verify(_)
        | Command::Sign(_)
        | Command::Evidence(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Schema(_)
        | Command::Status(_)
        | Command::Diff(_)
        | Command::History(_) => unreachable!("dispatched elsewhere"),
        Command::Init(args) => {
            let stores = match &args.store_prefix {
                Some(prefix) => baton_promote::InitStores::Prefix(prefix.clone()),
                None => baton_promote::InitStores::Local,
            };
            let done = init(&args.dir, args.actor.as_.as_deref(), &stores, Timestamp::now())?;
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
            let mut view = open_writer(&args.state, args.publish.no_push)?;
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
            let mut view = open_writer(&args.state, args.publish.no_push)?;
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
            let mut view = open_writer(&args.state, args.publish.no_push)?;
            let request = RollbackRequest {
                bundle: args.bundle,
                env: args.env,
                to: args.to,
                as_: args.actor.as_,
                options,
                sign_key: args.actor.sign_key.as_deref(),
                at: Timestamp::now(),
                reason: args.reason,
            };
            print_promotion(printer, &rollback(&mut view, &request)?)
        }
    }
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
