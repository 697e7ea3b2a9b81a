//! `bundle verify` and `bundle unpack`, and how findings are shown (exit 4).

use std::path::Path;

use anyhow::{Context, Result};
use baton_build::{UnpackReport, VerifyFinding, VerifyReport};
use baton_bundle::{Finding, Limits, Opened, UnpackError};
use baton_store::RegistryOptions;

use super::{Resolved, open_or_report};
use crate::{
    ExitStatus,
    cli::{RefArgs, UnpackArgs},
    printer::{BOLD, GREEN, Printer, RED},
};

pub(super) fn report_findings(
    resolved: &Resolved,
    opened: Option<&Opened>,
    findings: &[Finding],
    printer: &Printer,
) -> Result<()> {
    if printer.is_json() {
        let findings: Vec<_> = findings
            .iter()
            .map(|f| VerifyFinding { subject: f.subject.clone(), problem: f.problem.clone() })
            .collect();
        printer.json(&VerifyReport {
            reference: resolved.pinned(),
            digest: resolved.digest.clone(),
            ok: findings.is_empty(),
            files: opened.map(|o| o.config.files.len()),
            findings,
        })?;
        return Ok(());
    }
    if findings.is_empty() {
        let files = opened.map_or(0, |o| o.config.files.len());
        printer.line(&format!(
            "{} {} (manifest, config, layer and {files} files re-hashed)",
            printer.paint(GREEN, "verified"),
            resolved.pinned()
        ))?;
    } else {
        printer.line(&format!(
            "{} {}: {} problem(s)",
            printer.paint(RED, "FAILED"),
            resolved.pinned(),
            findings.len()
        ))?;
        for finding in findings {
            printer.line(&format!(
                "  {}: {}",
                printer.paint(BOLD, &finding.subject),
                finding.problem
            ))?;
        }
    }
    Ok(())
}

pub(super) fn verify(
    args: &RefArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let (opened, findings) =
        baton_bundle::verify_bundle(&*resolved.blobs(), &resolved.digest, Limits::STANDARD)
            .with_context(|| format!("cannot read {}", resolved.pinned()))?;
    report_findings(&resolved, opened.as_ref(), &findings, printer)?;
    Ok(if findings.is_empty() { ExitStatus::Success } else { ExitStatus::Findings })
}

pub(super) fn unpack(
    args: &UnpackArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let (resolved, opened) = match open_or_report(&args.reference, options, printer)? {
        Ok(opened) => opened,
        Err(status) => return Ok(status),
    };
    let blobs = resolved.blobs();
    let layer = blobs
        .open_blob(&opened.layer().digest, opened.layer().size)
        .with_context(|| format!("cannot read the layer of {}", resolved.pinned()))?;
    match baton_bundle::unpack(layer, opened.layer(), &opened.config, &args.into, Limits::STANDARD)
    {
        Ok(()) => {}
        Err(UnpackError::Verification { findings }) => {
            report_findings(&resolved, Some(&opened), &findings, printer)?;
            return Ok(ExitStatus::Findings);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot unpack {}", resolved.pinned())),
    }
    if printer.is_json() {
        printer.json(&UnpackReport {
            reference: resolved.pinned(),
            digest: resolved.digest.clone(),
            into: args.into.clone(),
            files: opened.config.files.len(),
        })?;
    } else {
        printer.status(
            "Unpacked",
            &format!(
                "{} ({} files) into {}",
                resolved.pinned(),
                opened.config.files.len(),
                display(&args.into)
            ),
        );
    }
    Ok(ExitStatus::Success)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
