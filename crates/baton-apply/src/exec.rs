//! The exec target's runner: one argv in the rendered directory, with the `BATON_*` variables,
//! a time limit, and the tail of its stderr (secrets masked) when it fails.
//!
//! The command runs in a process group of its own, so a timeout ends everything it started:
//! TERM to the group, then KILL after a grace period. No child keeps working after baton has
//! reported the failure.
//!
//! What the command printed is kept, masked, beside the release's record
//! (`.releases/<release>.log`, 0600: the last 4 MiB of each stream) and logged line by line at
//! `-v`, so an operator can read what terraform or kubectl said.

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
    let stdout_file = tempfile::tempfile()?;
    let mut command = Command::new(program);
    if let Some(target) = &job.target_id {
        command.env("BATON_TARGET_ID", target.as_str());
    }
    let mut child = command
        .args(arguments)
        .current_dir(dir)
        .env("BATON_ENV", job.env.name.as_str())
        .env("BATON_BUNDLE", job.pin.bundle.as_str())
        .env("BATON_VERSION", &record.version)
        .env("BATON_DIGEST", record.digest.to_string())
        .env("BATON_RENDERED_DIR", dir)
        .stdin(Stdio::null())
        .stdout(stdout_file.try_clone()?)
        .stderr(stderr_file.try_clone()?)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound && !program.contains('/') {
                format!("cannot be started: `{program}` is not on PATH; install it on this machine, or give its full path in baton.toml")
            } else {
                format!("cannot be started: {e}")
            };
            fail(why, String::new())
        })?;
    let started = Instant::now();
    let mut live = [
        Live::new("stdout", stdout_file.try_clone()?),
        Live::new("stderr", stderr_file.try_clone()?),
    ];
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > limit {
            end_group(&mut child);
            break None;
        }
        for stream in &mut live {
            stream.pass(job, what, resolved, false);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for stream in &mut live {
        stream.pass(job, what, resolved, true);
    }
    let outcome = match status {
        Some(status) if status.success() => "succeeded".to_owned(),
        Some(status) => format!("failed ({status})"),
        None => format!("ran longer than {}s and was killed", limit.as_secs()),
    };
    let stdout = masked_tail(stdout_file, LOG_BYTES, resolved)?;
    let stderr = masked_tail(stderr_file, LOG_BYTES, resolved)?;
    keep_log(job, what, &shown, &outcome, &stdout, &stderr, record)?;
    match status {
        Some(status) if status.success() => Ok(()),
        _ => {
            let lines: Vec<&str> = stderr.lines().collect();
            Err(fail(outcome, lines[lines.len().saturating_sub(20)..].join("\n")))
        }
    }
}

/// How much of each stream a log keeps: its last 4 MiB.
const LOG_BYTES: u64 = 4 << 20;

/// Appends what the command printed to the release's log (0600).
fn keep_log(
    job: &Job<'_>,
    what: &str,
    command: &str,
    outcome: &str,
    stdout: &str,
    stderr: &str,
    record: &AppliedRecord,
) -> Result<(), ApplyError> {
    let path = job.home.log_path(&record.release);
    let mut log = std::fs::OpenOptions::new();
    log.create(true).append(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut log, 0o600);
    let mut log = log.open(&path).map_err(|e| job.home.io(e))?;
    let text = format!(
        "== {what}: {command}: {outcome}\n== stdout\n{stdout}{}== stderr\n{stderr}{}",
        if stdout.is_empty() || stdout.ends_with('\n') { "" } else { "\n" },
        if stderr.is_empty() || stderr.ends_with('\n') { "" } else { "\n" },
    );
    std::io::Write::write_all(&mut log, text.as_bytes())
        .and_then(|()| log.sync_all())
        .map_err(|e| job.home.io(e))?;
    Ok(())
}

/// One stream of a running command, logged line by line at `-v` while it runs: what was
/// appended to its file since the last pass, each complete line masked and escaped.
struct Live {
    stream: &'static str,
    file: std::fs::File,
    read: u64,
    partial: Vec<u8>,
}

/// The most of a stream logged live per pass and kept as an unfinished line: a command that
/// writes faster is logged in part (its log file keeps the tail).
const LIVE_BYTES: u64 = 1 << 20;

impl Live {
    fn new(stream: &'static str, file: std::fs::File) -> Live {
        Live { stream, file, read: 0, partial: Vec::new() }
    }

    /// Logs the complete lines written since the last pass (all of it, at the end).
    fn pass(&mut self, job: &Job<'_>, what: &str, resolved: &Resolved, last: bool) {
        use std::io::{Read, Seek};
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let Ok(len) = self.file.metadata().map(|m| m.len()) else { return };
        if len > self.read + LIVE_BYTES {
            self.read = len - LIVE_BYTES;
            self.partial.clear();
        }
        if self.file.seek(std::io::SeekFrom::Start(self.read)).is_err() {
            return;
        }
        let mut chunk = Vec::new();
        let Ok(n) = (&mut self.file).take(len - self.read).read_to_end(&mut chunk) else { return };
        self.read += n as u64;
        self.partial.extend_from_slice(&chunk);
        let end = if last {
            self.partial.len()
        } else {
            match self.partial.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if self.partial.len() as u64 > LIVE_BYTES => self.partial.len(),
                None => return,
            }
        };
        let lines: Vec<u8> = self.partial.drain(..end).collect();
        let text = resolved.mask(&String::from_utf8_lossy(&lines));
        for line in text.lines() {
            tracing::info!(bundle = %job.pin.bundle, "{what} {}: {}", self.stream, escape_controls(line));
        }
    }
}

/// `line` with control characters (but tab) escaped, so a command cannot drive the terminal.
fn escape_controls(line: &str) -> String {
    line.chars()
        .flat_map(|c| {
            let escaped = c.is_control() && c != '\t';
            let shown: Vec<char> = if escaped { c.escape_default().collect() } else { vec![c] };
            shown
        })
        .collect()
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

/// About the last `keep` bytes of what a command wrote to `file`, read as bytes (invalid UTF-8
/// shown lossily) and masked before anything is cut: the window read is longer than `keep` by
/// the longest secret, and after masking that much is dropped from its front (then up to the
/// next line), so a secret cut by the window's edge is never shown in part.
fn masked_tail(mut file: std::fs::File, keep: u64, resolved: &Resolved) -> std::io::Result<String> {
    use std::io::{Read, Seek};
    let margin = resolved.longest_secret();
    let len = file.seek(std::io::SeekFrom::End(0))?;
    let start = len.saturating_sub(keep + margin as u64);
    file.seek(std::io::SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = resolved.mask(&String::from_utf8_lossy(&bytes));
    if start == 0 {
        return Ok(text);
    }
    // The masked text begins with the window's first bytes unchanged up to its first mask, and
    // a mask is never longer than what it replaced: dropping `margin` bytes drops any part of a
    // secret the window cut.
    let mut cut = margin.min(text.len());
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let rest = &text[cut..];
    Ok(rest.split_once('\n').map_or(rest, |(_, after)| after).to_owned())
}
