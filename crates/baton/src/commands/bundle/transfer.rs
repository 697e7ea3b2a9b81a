//! `bundle copy`, `export` and `import`, and the progress bar of a transfer.

use anyhow::{Context, Result};
use baton_build::CopyOutcome;
use baton_model::Selector;
use baton_store::{Progress, ProgressEvent, RegistryOptions};

use super::{Resolved, open_or_report, open_store};
use crate::{
    ExitStatus,
    cli::{CopyArgs, ExportArgs, ImportArgs},
    printer::{Printer, human_size},
};

pub(super) fn copy(
    args: &CopyArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let target = open_store(&args.to, options)?;
    let tag = match &resolved.reference.selector {
        Selector::Tag(tag) => Some(tag.as_str()),
        Selector::Digest(_) => None,
    };
    let name = &resolved.reference.name;
    let (bar, progress) = transfer_progress(printer, &format!("copying {name}"));
    let report =
        baton_store::copy(&resolved.store, name, &resolved.digest, &target, tag, &progress)
            .with_context(|| format!("cannot copy {} to `{}`", resolved.pinned(), args.to))?;
    bar.finish_and_clear();
    let destination = format!("{}/{name}@{}", args.to, report.digest);
    if let Some(previous) = &report.moved_from {
        printer.warn(&format!(
            "tag {name}:{} at `{}` moved from {previous}",
            tag.unwrap_or_default(),
            args.to
        ));
    }
    if printer.is_json() {
        printer.json(&CopyOutcome::of(&report, &destination))?;
    } else {
        printer.status(
            "Copied",
            &format!(
                "{} to {} ({} uploaded, {} mounted, {} skipped, {} in {:.2} s)",
                resolved.pinned(),
                args.to,
                report.blobs_uploaded,
                report.blobs_mounted,
                report.blobs_skipped,
                human_size(report.bytes_uploaded),
                report.seconds
            ),
        );
        printer.line(&destination)?;
    }
    Ok(ExitStatus::Success)
}

pub(super) fn export(
    args: &ExportArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let (resolved, opened) = match open_or_report(&args.reference, options, printer)? {
        Ok(opened) => opened,
        Err(status) => return Ok(status),
    };
    let tag = match &resolved.reference.selector {
        Selector::Tag(tag) => tag.clone(),
        Selector::Digest(_) => opened.config.version.to_string(),
    };
    let blobs = resolved.blobs();
    let done = baton_build::export(&*blobs, &opened, &resolved.pinned(), &tag, &args.output_file)?;
    if printer.is_json() {
        printer.json(&done)?;
    } else {
        printer.status(
            "Exported",
            &format!(
                "{} as {tag} into {} ({})",
                done.reference,
                done.file.display(),
                human_size(done.size)
            ),
        );
    }
    Ok(ExitStatus::Success)
}

pub(super) fn import(
    args: &ImportArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let (bar, progress) = transfer_progress(printer, &format!("importing {}", args.file.display()));
    let imported = baton_build::import(&args.file, &args.store, options, &progress);
    bar.finish_and_clear();
    let (_, done) = imported?;
    if printer.is_json() {
        printer.json(&done)?;
    } else {
        printer.status("Imported", &format!("{} into {}", args.file.display(), args.store));
        printer.line(&done.reference)?;
    }
    Ok(ExitStatus::Success)
}

/// A progress bar for a transfer, and the callback that moves it; the copy reports the length.
pub(crate) fn transfer_progress(
    printer: &Printer,
    message: &str,
) -> (indicatif::ProgressBar, Progress) {
    let bar = printer.progress(0, message);
    let moved = bar.clone();
    let progress: Progress = std::sync::Arc::new(move |event| match event {
        ProgressEvent::Total(total) => moved.set_length(total),
        ProgressEvent::Bytes(n) => moved.inc(n),
    });
    (bar, progress)
}
