//! One module per command group; each command is a thin wrapper over library calls.

pub(crate) mod apply;
mod audit;
mod bundle;
pub(crate) mod promote;

use anyhow::Result;
use baton_store::RegistryOptions;

use crate::{
    ExitStatus,
    cli::{self, Command},
    printer::Printer,
};

pub(crate) fn run(
    command: Command,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        Command::Bundle(command) => bundle::run(command, printer, options),
        // The auditor's word for it, as in `baton verify REF`.
        Command::Verify(args) => bundle::run(cli::BundleCommand::Verify(args), printer, options),
        Command::Audit(args) => audit::run(&args, printer, options),
        Command::Plan(_) | Command::Apply(_) | Command::Drift(_) | Command::Agent(_) => {
            apply::run(command, printer, options)
        }
        other => promote::run(other, printer, options),
    }
}
