//! `baton bundle …`: build, list, inspect, verify, unpack, copy, export and import bundles in
//! a store. Each command is options plus one library call; the printing is here.

mod build;
mod check;
mod inspect;
mod transfer;

use anyhow::{Context, Result};
use baton_bundle::{OpenError, Opened};
use baton_model::{BlobSource, Digest, Reference, StoreLocation};
use baton_store::{RegistryOptions, Store};

pub(crate) use self::check::{evidence, sign};
pub(crate) use self::transfer::transfer_progress;
use crate::{ExitStatus, cli::BundleCommand, printer::Printer};

pub(crate) fn run(
    command: BundleCommand,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        BundleCommand::Build(args) => build::build(&args, printer, options),
        BundleCommand::List(args) => build::list(&args, printer, options),
        BundleCommand::Inspect(args) => inspect::inspect(&args, printer, options),
        BundleCommand::Verify(args) => check::verify(&args, printer, options),
        BundleCommand::Unpack(args) => check::unpack(&args, printer, options),
        BundleCommand::Copy(args) => transfer::copy(&args, printer, options),
        BundleCommand::Export(args) => transfer::export(&args, printer, options),
        BundleCommand::Import(args) => transfer::import(&args, printer, options),
    }
}

fn open_store(location: &StoreLocation, options: &RegistryOptions) -> Result<Store> {
    Store::open(location, options).with_context(|| format!("cannot open store `{location}`"))
}

/// A bundle reference resolved to a digest in an opened store.
struct Resolved {
    reference: Reference,
    store: Store,
    digest: Digest,
}

impl Resolved {
    fn new(reference: &Reference, options: &RegistryOptions) -> Result<Resolved> {
        let reference = reference.clone();
        let store = open_store(&reference.store, options)?;
        let digest = store.resolve(&reference.name, &reference.selector)?;
        Ok(Resolved { reference, store, digest })
    }

    fn blobs(&self) -> Box<dyn BlobSource + '_> {
        self.store.blobs(&self.reference.name)
    }

    /// `oci:PATH/NAME@sha256:…`, the reference that can never move.
    fn pinned(&self) -> String {
        format!("{}/{}@{}", self.reference.store, self.reference.name, self.digest)
    }
}

/// Opens a bundle, turning findings about its manifest or config into an error for commands
/// that cannot go on without them.
/// `Ok(Err(status))` is the exit status after the findings were printed.
fn open_or_report(
    reference: &Reference,
    options: &RegistryOptions,
    printer: &Printer,
) -> Result<std::result::Result<(Resolved, Opened), ExitStatus>> {
    let resolved = Resolved::new(reference, options)?;
    let opened = baton_bundle::open_bundle(&*resolved.blobs(), &resolved.digest);
    match opened {
        Ok(opened) => Ok(Ok((resolved, opened))),
        Err(OpenError::Findings(findings)) => {
            check::report_findings(&resolved, None, &findings, &[], printer)?;
            Ok(Err(ExitStatus::Findings))
        }
        Err(OpenError::Io(e)) => {
            Err(e).with_context(|| format!("cannot read {}", resolved.pinned()))
        }
    }
}
