//! `baton agent`: the pull-based control loop. Each pass re-reads the state repository and
//! reconciles every bundle the environment pins; passes are spaced by the interval with jitter,
//! errors back off exponentially, and SIGTERM or SIGINT end the loop after the current pass.

use std::time::Duration;

use anyhow::Result;
use baton_apply::{ApplyAction, ApplyOptions, PassReport, reconcile};

use crate::{ExitStatus, cli::AgentArgs, commands::open_state, printer::Printer};

/// Runs the loop (or one pass with `--once`).
pub(crate) fn run(
    args: &AgentArgs,
    printer: &Printer,
    options: &ApplyOptions<'_>,
) -> Result<ExitStatus> {
    if args.once {
        let reports = pass(args, options)?;
        print(printer, &reports)?;
        let drifted = reports.iter().any(|r| r.action == ApplyAction::Drift);
        return Ok(if drifted { ExitStatus::Findings } else { ExitStatus::Success });
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let interval = Duration::from_secs(args.interval.max(1));
        let mut failures: u32 = 0;
        loop {
            // A pass runs to its end: a signal is only looked at between passes.
            match pass(args, options) {
                Ok(reports) => {
                    failures = 0;
                    tracing::info!(env = %args.env, bundles = reports.len(), "pass done");
                    for r in reports.iter().filter(|r| r.action != ApplyAction::Unchanged) {
                        tracing::warn!(env = %args.env, bundle = %r.bundle, action = %r.action, changed = r.differences.changed.len(), added = r.differences.added.len(), removed = r.differences.removed.len(), "reconciled");
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(env = %args.env, failures, "pass failed: {error:#}");
                }
            }
            let wait = next_wait(interval, failures);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
            }
        }
        tracing::info!(env = %args.env, "stopping");
        Ok(ExitStatus::Success)
    })
}

fn pass(args: &AgentArgs, options: &ApplyOptions<'_>) -> Result<Vec<PassReport>> {
    let view = open_state(&args.state, &options.cache)?;
    Ok(reconcile(&view, &args.env, !args.no_heal, options)?)
}

/// The interval, doubled per consecutive failure up to 10 minutes, with ±20 % jitter so that a
/// fleet of agents does not pull in step.
fn next_wait(interval: Duration, failures: u32) -> Duration {
    let base =
        interval.saturating_mul(1 << failures.min(10)).min(Duration::from_secs(600).max(interval));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = 0.8 + 0.4 * (f64::from(nanos % 1000) / 1000.0);
    base.mul_f64(jitter)
}

fn print(printer: &Printer, reports: &[PassReport]) -> Result<()> {
    if printer.is_json() {
        return printer.json(&reports);
    }
    for r in reports {
        let d = &r.differences;
        printer.status(
            r.action.as_str(),
            &format!(
                "{} ({} changed, {} added, {} removed before the pass)",
                r.bundle,
                d.changed.len(),
                d.added.len(),
                d.removed.len()
            ),
        );
    }
    Ok(())
}
