//! The `baton` binary: parses the command line, runs one command, and maps the outcome to an
//! exit code that means one thing (0 ok, 1 error, 2 usage, 3 a gate refused, 4 verification
//! found a problem).

mod agent;
mod cli;
mod commands;
mod env;
mod printer;

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

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Refused => 3,
            ExitStatus::Findings => 4,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.output, cli.global.color);
    init_logging(cli.global.verbose, cli.global.log_format);
    let options =
        env::registry_options(cli.global.insecure_registries.clone(), cli.global.chunked_uploads);
    match commands::run(cli.command, &printer, &options) {
        Ok(status) => status.into(),
        Err(error) => {
            if printer::is_broken_pipe(&error) {
                return ExitStatus::Success.into();
            }
            printer.error(&error);
            let refused = error
                .downcast_ref::<baton_promote::PromoteError>()
                .is_some_and(baton_promote::PromoteError::is_refusal);
            if refused { ExitStatus::Refused.into() } else { ExitStatus::Error.into() }
        }
    }
}

fn init_logging(verbose: u8, format: cli::LogFormat) {
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
        .with_target(false);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
