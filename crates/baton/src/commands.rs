//! One module per command group; each command is a thin wrapper over library calls.

pub(crate) mod apply;
mod audit;
mod bundle;
pub(crate) mod promote;
mod query;

use std::path::Path;

use anyhow::Result;
use baton_state::StateRepo;
use baton_store::RegistryOptions;
use baton_view::View;

use crate::{
    ExitStatus,
    cli::{self, Command, StateArgs},
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
        Command::Status(_) | Command::Diff(_) | Command::History(_) => {
            query::run(command, printer, options)
        }
        other => promote::run(other, printer, options),
    }
}

/// Opens the state repository `--state` names (default: found upwards from here).
pub(crate) fn open(args: &StateArgs) -> Result<View> {
    Ok(View::open(local_repo(args)?)?)
}

/// Opens the state repository for a command that writes: with `no_push`, it neither fetches
/// the branch's upstream nor pushes to it.
pub(crate) fn open_writer(args: &StateArgs, no_push: bool) -> Result<View> {
    let mut repo = local_repo(args)?;
    if no_push {
        repo.stay_local();
    }
    Ok(View::open(repo)?)
}

/// The local state repository `--state` names, or why a URL will not do.
fn local_repo(args: &StateArgs) -> Result<StateRepo> {
    if let Some(url) = remote_url(args) {
        anyhow::bail!(
            "`--state {url}` is a URL: this command needs a local clone of the state repository (`git clone {url}`, then `--state PATH`); `apply`, `plan`, `drift`, `agent` and `audit` can read a URL through a read-only mirror"
        );
    }
    let start = args.state.as_deref().unwrap_or(Path::new("."));
    Ok(StateRepo::discover(start)?)
}

/// Like [`open`], but `--state` may also be a URL (`file://…`, `ssh://…`): it is mirrored
/// read-only into `cache/state/<hash>` and fetched, refusing a rewritten history; relative paths
/// of its `baton.toml` resolve against the working directory.
pub(crate) fn open_state(args: &StateArgs, cache: &Path) -> Result<View> {
    Ok(View::open(state_repo(args, cache)?)?)
}

/// Like [`open_state`], but a `baton.toml` at the head that cannot be used is kept for the
/// auditor to report (`View::open_lenient`), not an error.
pub(crate) fn open_state_for_audit(args: &StateArgs, cache: &Path) -> Result<View> {
    Ok(View::open_lenient(state_repo(args, cache)?)?)
}

fn state_repo(args: &StateArgs, cache: &Path) -> Result<StateRepo> {
    let Some(url) = remote_url(args) else { return local_repo(args) };
    let mirror = cache.join("state").join(baton_model::Digest::of(url.as_bytes()).short());
    let here = std::path::absolute(".")?;
    Ok(StateRepo::mirror(url, &mirror, &here)?)
}

/// `--state` when it is a URL (`file://…`, `ssh://…`) rather than a path.
fn remote_url(args: &StateArgs) -> Option<&str> {
    args.state.as_ref().and_then(|p| p.to_str()).filter(|s| s.contains("://"))
}
