//! The `baton` binary: parses the command line, runs one command, and maps the outcome to an
//! exit code that means one thing (0 ok, 1 error, 2 usage, 3 a gate refused, 4 verification
//! found a problem).

mod agent;
mod cli;
mod commands;
mod env;
mod output;
mod printer;
mod schema;

use std::process::ExitCode;

use clap::Parser;

use crate::{cli::Cli, printer::Printer};

/// What a command's run means for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    /// Everything worked.
    Success,
    /// The command could not do its job.
    Error,
    /// A gate refused.
    Refused,
    /// Verification found a problem.
    Findings,
}
// Exit code 2 (usage) is clap's own.

impl ExitStatus {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Refused => 3,
            ExitStatus::Findings => 4,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

/// Whether the raw command line asks for `--output json` (read only when clap refused it).
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--output=json")
        || args.windows(2).any(|w| w[0] == "--output" && w[1] == "json")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse().and_then(|cli| cli.check().map(|()| cli)) {
        Ok(cli) => cli,
        Err(error) => {
            // A pipeline that asked for JSON gets its one document on stdout even for a
            // command line clap refused; clap's own text still goes to stderr (exit 2).
            if error.use_stderr() && json_requested() {
                Printer::new(cli::OutputFormat::Json, cli::ColorChoice::Never)
                    .error_json(&output::usage_document(&error));
            }
            error.exit();
        }
    };
    let printer = Printer::new(cli.global.output, cli.global.color);
    init_logging(cli.global.verbose, cli.global.log_format, printer.stderr_color());
    let seconds = |d: baton_model::Duration| std::time::Duration::from_secs(d.seconds().max(1));
    let timeouts = baton_store::Timeouts {
        connect: seconds(cli.global.registry_connect_timeout),
        read: seconds(cli.global.registry_read_timeout),
        total: seconds(cli.global.registry_timeout),
    };
    let options = env::registry_options(
        cli.global.insecure_registries.clone(),
        cli.global.registry_cas.clone(),
        cli.global.chunked_uploads,
        timeouts,
    );
    match commands::run(cli.command, &printer, &options) {
        Ok(status) => status.into(),
        Err(error) => {
            if printer::is_broken_pipe(&error) {
                return ExitStatus::Success.into();
            }
            let kind = output::kind_of(&error);
            printer.error(&error);
            if printer.is_json() {
                printer.error_json(&output::error_document(&error, kind));
            }
            output::exit_status(kind).into()
        }
    }
}

/// Log lines go to stderr, coloured only when the printer colours stderr (`--color`, `NO_COLOR`,
/// a terminal).
fn init_logging(verbose: u8, format: cli::LogFormat, color: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
