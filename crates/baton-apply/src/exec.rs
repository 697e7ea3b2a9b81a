//! The exec target's runner: one argv in the rendered directory, with the `BATON_*` variables,
//! a time limit, and the tail of its stderr (secrets masked) when it fails.

use std::{
    path::Path,
    process::{Command, Stdio},
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
        .spawn()
        .map_err(|e| fail(format!("cannot be started: {e}"), String::new()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(
                format!("ran longer than {}s and was killed", limit.as_secs()),
                tail(stderr_file)?,
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        return Ok(());
    }
    Err(fail(format!("failed ({status})"), tail(stderr_file)?))
}

/// The last 20 lines of a command's stderr.
fn tail(mut file: std::fs::File) -> std::io::Result<String> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut text = String::new();
    file.take(1 << 20).read_to_string(&mut text)?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(20)..].join("\n"))
}
