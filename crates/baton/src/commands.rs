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
        Command::Sign(args) => bundle::sign(&args, printer, options),
        Command::Evidence(args) => bundle::evidence(&args, printer, options),
        Command::Audit(args) => audit::run(&args, printer, options),
        Command::Schema(args) => crate::schema::run(args.name.as_deref(), printer),
        Command::Completions(args) => {
            use clap::CommandFactory as _;
            let mut command = cli::Cli::command();
            // Into memory first: clap_complete panics on a write that fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command, "baton", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
            Ok(ExitStatus::Success)
        }
        Command::Man(args) => man(args.dir.as_deref(), printer),
        Command::Plan(_)
        | Command::Apply(_)
        | Command::Render(_)
        | Command::Publish(_)
        | Command::Drift(_)
        | Command::Agent(_) => apply::run(command, printer, options),
        Command::Status(_) | Command::Diff(_) | Command::History(_) => {
            query::run(command, printer, options)
        }
        other => promote::run(other, printer, options),
    }
}

/// `baton man`: the manual page of baton (roff) on stdout, or with `--dir` one page per command
/// (`baton.1`, `baton-promote.1`, `baton-bundle-build.1`, …) written there.
fn man(dir: Option<&std::path::Path>, printer: &Printer) -> Result<ExitStatus> {
    use clap::CommandFactory as _;
    let command = cli::Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        std::io::Write::write_all(&mut std::io::stdout().lock(), &page)?;
        return Ok(ExitStatus::Success);
    };
    fs_err::create_dir_all(dir)?;
    clap_mangen::generate_to(command, dir)?;
    printer.status("Wrote", &format!("the manual pages into {}", dir.display()));
    Ok(ExitStatus::Success)
}

/// Opens the state repository `--state` names (default: found upwards from here) for a command
/// that only reads; a URL is mirrored read-only into the cache (see [`open_state`]).
pub(crate) fn open(args: &StateArgs) -> Result<View> {
    open_state(args, &crate::env::state_cache())
}

/// Opens the state repository for a command that writes: with `no_push`, it neither fetches
/// the branch's upstream nor pushes to it. A URL is cloned with a work tree into the cache the
/// first time, followed and pushed to like any clone with an upstream.
pub(crate) fn open_writer(args: &StateArgs, no_push: bool) -> Result<View> {
    let mut repo = match remote_url(args) {
        Some(url) if no_push => anyhow::bail!(
            "`--no-push` with `--state {}`: the commit would stay in baton's cache, where nobody sees it; clone the state repository (`git clone {0}`) and run baton there with `--no-push`",
            baton_state::without_credentials(url)
        ),
        Some(url) => {
            let clone = state_copy(&crate::env::state_cache(), url, "clone");
            let here = std::path::absolute(".")?;
            StateRepo::cached_clone(url, &clone, &here, &crate::env::git_access())?
        }
        None => local_repo(args)?,
    };
    if no_push {
        repo.stay_local();
    }
    Ok(View::open(repo)?)
}

/// The local state repository `--state` names.
fn local_repo(args: &StateArgs) -> Result<StateRepo> {
    let start = args.state.as_deref().unwrap_or(Path::new("."));
    let mut repo = StateRepo::discover(start)?;
    repo.set_access(crate::env::git_access());
    Ok(repo)
}

/// Like [`open`], but `--state` may also be a URL (`https://…`, `ssh://…`, `file://…`): it is
/// mirrored read-only into `cache/state/<hash>-mirror` and fetched, refusing a rewritten
/// history; relative paths of its `baton.toml` resolve against the working directory.
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
    let mirror = state_copy(cache, url, "mirror");
    let here = std::path::absolute(".")?;
    Ok(StateRepo::mirror(url, &mirror, &here, &crate::env::git_access())?)
}

/// Where baton keeps its copy of the state at `url`: named by a hash of the URL without
/// credentials, so a token in the URL leaves no trace, not even hashed, in a directory name.
fn state_copy(cache: &Path, url: &str, kind: &str) -> std::path::PathBuf {
    let shown = baton_state::without_credentials(url);
    cache
        .join("state")
        .join(format!("{}-{kind}", baton_model::Digest::of(shown.as_bytes()).short()))
}

/// `--state` when it is a URL (`https://…`, `ssh://…`, `file://…`) rather than a path.
fn remote_url(args: &StateArgs) -> Option<&str> {
    args.state.as_ref().and_then(|p| p.to_str()).filter(|s| s.contains("://"))
}
