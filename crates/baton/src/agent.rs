//! `baton agent`: the pull-based control loop. Each pass re-reads the state repository and
//! reconciles every bundle the environment pins; passes are spaced by the interval with jitter,
//! errors back off exponentially. SIGTERM or SIGINT end the loop: a pass that waits on a
//! registry is interrupted at once (the target keeps what it has), any other work of the pass
//! runs to its end first.

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
    interrupt_on_signals()?;
    if args.once {
        let result = pass(args, options);
        write_health(args, &result, (1, u32::from(result.is_err())));
        let reports = result?;
        print(printer, &reports)?;
        if reports.iter().any(|r| r.report_error.is_some()) {
            return Ok(ExitStatus::Error);
        }
        let found = reports.iter().any(|r| {
            r.action == ApplyAction::Drift || r.verification.as_ref().is_some_and(|v| !v.passed())
        });
        return Ok(if found { ExitStatus::Findings } else { ExitStatus::Success });
    }
    // Passes run outside the runtime: the registry store blocks on a runtime of its own, which
    // cannot start inside another. The runtime only waits between passes.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let interval = Duration::from_secs(args.interval.max(1));
    let mut failures: u32 = 0;
    let mut passes: u64 = 0;
    loop {
        let result = pass(args, options);
        passes += 1;
        match &result {
            Ok(reports) => {
                failures = 0;
                tracing::info!(env = %args.env, bundles = reports.len(), "pass done");
                for r in reports.iter().filter(|r| r.action != ApplyAction::Unchanged) {
                    tracing::warn!(env = %args.env, bundle = %r.bundle, action = %r.action, changed = r.differences.changed.len(), added = r.differences.added.len(), removed = r.differences.removed.len(), verification = ?r.verification.as_ref().map(|v| v.result), report = ?r.report, "reconciled");
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::error!(env = %args.env, failures, "pass failed: {error:#}");
            }
        }
        write_health(args, &result, (passes, failures));
        if baton_store::is_interrupted() {
            break;
        }
        let wait = next_wait(interval, failures);
        let interrupted = runtime.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(wait) => false,
                () = baton_store::interrupted() => true,
            }
        });
        if interrupted {
            break;
        }
    }
    tracing::info!(env = %args.env, "stopping");
    Ok(ExitStatus::Success)
}

/// Turns SIGTERM and SIGINT into `baton_store::interrupt`, on a thread of its own: a pass blocks
/// the loop's thread, and the signal must reach a request that waits on the network.
fn interrupt_on_signals() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (mut terminate, mut interrupt) = {
        let _entered = runtime.enter();
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        });
        tracing::info!("signal received: interrupting what waits on the network");
        baton_store::interrupt();
    })?;
    Ok(())
}

/// What `--health-file` holds after each pass.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct Health<'a> {
    /// When the pass ended.
    at: jiff::Timestamp,
    /// The environment.
    environment: &'a str,
    /// The target's id, when it reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    /// Whether the pass ended without an error.
    ok: bool,
    /// Passes since the agent started, this one included.
    passes: u64,
    /// Consecutive failed passes (0 after a good one).
    failures: u32,
    /// Why the pass failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What the pass did per bundle (empty when it failed).
    bundles: &'a [PassReport],
}

/// Writes the health file, when asked for; a file that cannot be written is a warning (the
/// agent's work does not depend on it, its supervisor sees it go stale).
fn write_health(
    args: &AgentArgs,
    result: &Result<Vec<PassReport>>,
    (passes, failures): (u64, u32),
) {
    let Some(path) = &args.health_file else { return };
    let health = Health {
        at: jiff::Timestamp::now(),
        environment: &args.env,
        target: args.reporter.target_id.as_ref().map(baton_model::TargetId::as_str),
        ok: result.is_ok(),
        passes,
        failures,
        error: result.as_ref().err().map(|e| format!("{e:#}")),
        bundles: result.as_deref().unwrap_or_default(),
    };
    let mut bytes = serde_json::to_vec_pretty(&health).expect("holds because health serialises");
    bytes.push(b'\n');
    if let Err(e) = baton_fs::write_atomic(path, &bytes) {
        tracing::warn!(path = %path.display(), "the health file cannot be written: {e}");
    }
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
    // 75–100% of the interval: a fleet does not pass in step, and the interval stays the
    // longest an agent takes to notice a change.
    let jitter = 0.75 + 0.25 * (f64::from(nanos % 1000) / 1000.0);
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
