//! One module per command group; each command is a thin wrapper over library calls.

mod bundle;

use anyhow::Result;

use crate::{ExitStatus, cli::Command, printer::Printer};

pub(crate) fn run(command: Command, printer: &Printer) -> Result<ExitStatus> {
    match command {
        Command::Bundle(command) => bundle::run(command, printer),
    }
}
