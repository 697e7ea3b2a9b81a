//! `bundle verify` and `bundle unpack`, and how findings are shown (exit 4).

use std::path::Path;

use anyhow::{Context, Result};
use baton_build::{SignatureCheck, UnpackReport, VerifyFinding, VerifyReport};
use baton_bundle::{Finding, Limits, Opened, UnpackError};
use baton_store::RegistryOptions;

use super::{Resolved, open_or_report};
use crate::{
    ExitStatus,
    cli::{SignArgs, UnpackArgs, VerifyArgs},
    printer::{BOLD, GREEN, Printer, RED},
};

pub(super) fn report_findings(
    resolved: &Resolved,
    opened: Option<&Opened>,
    findings: &[Finding],
    signatures: &[SignatureCheck],
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
            signatures: signatures.to_vec(),
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
    for check in signatures {
        printer.line(&format!("  signature: {}", signature_state(check, printer)))?;
    }
    Ok(())
}

/// Re-hashes the bundle; with keys, at least one of its signatures must verify with one of them.
pub(super) fn verify(
    args: &VerifyArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let keys = public_keys(&args.key)?;
    let (opened, mut findings) =
        baton_bundle::verify_bundle(&*resolved.blobs(), &resolved.digest, Limits::STANDARD)
            .with_context(|| format!("cannot read {}", resolved.pinned()))?;
    let mut signatures = Vec::new();
    if !keys.is_empty() {
        signatures = baton_build::check_signatures(
            &resolved.store,
            &resolved.reference.name,
            &resolved.digest,
            &keys,
        )
        .with_context(|| format!("cannot read the signatures of {}", resolved.pinned()))?;
        if !signatures.iter().any(|c| c.keyid.is_some()) {
            let ids: Vec<String> = keys.iter().map(|k| k.keyid().to_string()).collect();
            findings.push(Finding {
                subject: baton_sign::cosign::signature_tag(&resolved.digest),
                problem: format!(
                    "no signature verifies with key {} ({} signature(s) attached): sign it with \
                     `baton sign REF --key PRIVATE_KEY`",
                    ids.join(" or "),
                    signatures.len()
                ),
            });
        }
    }
    report_findings(&resolved, opened.as_ref(), &findings, &signatures, printer)?;
    Ok(if findings.is_empty() { ExitStatus::Success } else { ExitStatus::Findings })
}

/// Signs the bundle's digest in its store, in cosign's format.
pub(crate) fn sign(
    args: &SignArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let key = baton_sign::SigningKey::from_pem_file(&args.key)?;
    let resolved = Resolved::new(&args.reference, options)?;
    let report =
        baton_build::sign(&resolved.store, &resolved.reference.name, &resolved.digest, &key)
            .with_context(|| format!("cannot sign {}", resolved.pinned()))?;
    if printer.is_json() {
        printer.json(&report)?;
    } else if report.added {
        printer.status("Signed", &format!("{} with key {}", report.reference, report.keyid));
    } else {
        printer.status(
            "Unchanged",
            &format!("{} is already signed by key {}", report.reference, report.keyid),
        );
    }
    Ok(ExitStatus::Success)
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
            report_findings(&resolved, Some(&opened), &findings, &[], printer)?;
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

/// Lists every signature and attestation of the bundle, checked against the keys given.
pub(crate) fn evidence(
    args: &VerifyArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let keys = public_keys(&args.key)?;
    let report =
        baton_build::evidence(&resolved.store, &resolved.reference.name, &resolved.digest, &keys)
            .with_context(|| format!("cannot read the evidence of {}", resolved.pinned()))?;
    let problems = report.signatures.iter().filter(|s| s.problem.is_some()).count()
        + report.attestations.iter().filter(|a| a.problem.is_some()).count();
    if printer.is_json() {
        printer.json(&report)?;
    } else {
        printer.line(&format!("{} {}", printer.paint(BOLD, "Evidence for"), report.reference))?;
        for check in &report.signatures {
            let state = signature_state(check, printer);
            printer.line(&format!("  signature    cosign simple signing: {state}"))?;
        }
        for check in &report.attestations {
            let what = check.predicate_type.as_deref().unwrap_or("(no predicate type)");
            let when = check.created.as_deref().unwrap_or("-");
            let state = match (&check.problem, check.verified_by.is_empty()) {
                (Some(problem), _) => printer.paint(RED, &format!("does not count: {problem}")),
                (None, false) => printer
                    .paint(GREEN, &format!("verifies with key {}", check.verified_by.join(", "))),
                (None, true) if check.keyids.is_empty() => "unsigned".to_owned(),
                (None, true) => format!("signed by {} (give --key)", check.keyids.join(", ")),
            };
            printer.line(&format!("  attestation  {what} ({when}): {state}"))?;
        }
        if report.signatures.is_empty() && report.attestations.is_empty() {
            printer.line("  nothing attached")?;
        }
    }
    Ok(if problems == 0 { ExitStatus::Success } else { ExitStatus::Findings })
}

/// The public keys `--key` names, each read and parsed (the error names the file and the fix).
fn public_keys(paths: &[std::path::PathBuf]) -> Result<Vec<baton_sign::PublicKey>> {
    Ok(paths
        .iter()
        .map(|path| baton_sign::PublicKey::from_pem_file(path))
        .collect::<Result<_, _>>()?)
}

/// How one checked signature reads for people.
fn signature_state(check: &SignatureCheck, printer: &Printer) -> String {
    match (&check.keyid, &check.problem) {
        (Some(keyid), _) => printer.paint(GREEN, &format!("verifies with key {keyid}")),
        (None, Some(problem)) => printer.paint(RED, &format!("does not count: {problem}")),
        (None, None) => "not checked (give --key)".to_owned(),
    }
}
