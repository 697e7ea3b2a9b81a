//! The exec target's runner: one argv in the rendered directory, with the `BATON_*` variables,
//! a time limit, and the tail of its stderr (secrets masked) when it fails.
//!
//! The command runs in a process group of its own, so a timeout ends everything it started:
//! TERM to the group, then KILL after a grace period. No child keeps working after baton has
//! reported the failure.

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use baton_target::AppliedRecord;

use crate::{ApplyError, job::Job, render::Resolved};

/// Runs one command of an exec target in the rendered directory, with a time limit.
pub(crate) fn run(
    job: &Job<'_>,
    what: &'static str,
    argv: &[String],
    dir: &Path,
    record: &AppliedRecord,
    limit: Duration,
    resolved: &Resolved,
) -> Result<(), ApplyError> {
    let shown = resolved.mask(&argv.join(" "));
    let fail = |outcome: String, stderr: String| ApplyError::Command {
        what,
        command: shown.clone(),
        outcome,
        stderr: resolved.mask(&stderr),
    };
    let Some((program, arguments)) = argv.split_first() else {
        return Err(fail("is empty in baton.toml".into(), String::new()));
    };
    let stderr_file = tempfile::tempfile()?;
    let mut child = Command::new(program)
        .args(arguments)
        .current_dir(dir)
        .env("BATON_ENV", job.env.name.as_str())
        .env("BATON_BUNDLE", job.pin.bundle.as_str())
        .env("BATON_VERSION", &record.version)
        .env("BATON_DIGEST", record.digest.to_string())
        .env("BATON_RENDERED_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file.try_clone()?)
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot be started: {e}"), String::new()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            end_group(&mut child);
            return Err(fail(
                format!("ran longer than {}s and was killed", limit.as_secs()),
                tail(stderr_file, resolved)?,
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        return Ok(());
    }
    Err(fail(format!("failed ({status})"), tail(stderr_file, resolved)?))
}

/// How long a timed-out command's group has between TERM and KILL.
const GRACE: Duration = Duration::from_secs(2);

/// Ends the command's whole process group: TERM, then KILL once the grace period is over.
fn end_group(child: &mut Child) {
    let group = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The leader may be gone while others of its group still run: KILL the group regardless.
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let _ = child.wait();
    // KILL is delivered asynchronously: wait until the group is empty, so nothing of it still
    // runs when the failure is reported. An orphan that nobody reaps stays a zombie in the group,
    // so the wait is bounded.
    let deadline = Instant::now() + REAP;
    while rustix::process::test_kill_process_group(group).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long baton waits, after KILL, for the members of a command's group to be gone.
const REAP: Duration = Duration::from_secs(1);

/// The last 20 lines of a command's stderr, from its last MiB read as bytes (invalid UTF-8
/// shown lossily), masked before it is cut so no cut can split a secret out of its mask.
fn tail(mut file: std::fs::File, resolved: &Resolved) -> std::io::Result<String> {
    use std::io::{Read, Seek};
    let len = file.seek(std::io::SeekFrom::End(0))?;
    file.seek(std::io::SeekFrom::Start(len.saturating_sub(1 << 20)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = resolved.mask(&String::from_utf8_lossy(&bytes));
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(20)..].join("\n"))
}
