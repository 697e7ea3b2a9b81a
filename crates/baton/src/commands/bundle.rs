//! `baton bundle …`: build, list, inspect, verify and unpack bundles in a store.

use std::path::Path;

use anyhow::{Context, Result};
use baton_build::{
    BuildProgress, BuildRequest, CopyOutcome, InspectReport, ListedBundle, UnpackReport,
    VerifyFinding, VerifyReport,
};
use baton_bundle::{Finding, Limits, OpenError, Opened, UnpackError};
use baton_model::{BlobSource, Digest, Reference, Selector, StoreLocation};
use baton_store::{Progress, ProgressEvent, RegistryOptions, Store};

use crate::{
    ExitStatus,
    cli::{
        BuildArgs, BundleCommand, CopyArgs, ExportArgs, ImportArgs, ListArgs, RefArgs, UnpackArgs,
    },
    printer::{BOLD, GREEN, Printer, RED, human_size},
};

pub(crate) fn run(
    command: BundleCommand,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    match command {
        BundleCommand::Build(args) => build(&args, printer, options),
        BundleCommand::List(args) => list(&args, printer, options),
        BundleCommand::Inspect(args) => inspect(&args, printer, options),
        BundleCommand::Verify(args) => verify(&args, printer, options),
        BundleCommand::Unpack(args) => unpack(&args, printer, options),
        BundleCommand::Copy(args) => copy(&args, printer, options),
        BundleCommand::Export(args) => export(&args, printer, options),
        BundleCommand::Import(args) => import(&args, printer, options),
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

fn build(args: &BuildArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let request = BuildRequest {
        dir: args.dir.clone(),
        store: args.store.clone(),
        allow_dirty: args.allow_dirty,
        threads,
        epoch: crate::env::source_date_epoch()?,
        registry: options,
    };
    let bar = printer.progress(0, &format!("packing {}", args.dir.display()));
    let (push_bar, push) = transfer_progress(printer, "pushing");
    let progress = BuildProgress {
        packing_total: &|total| bar.set_length(total),
        packed: &|done| bar.set_position(done),
        push: &push,
    };
    let built = baton_build::build(&request, &progress);
    bar.finish_and_clear();
    push_bar.finish_and_clear();
    let built = built?;
    let (name, tag) = (&built.name, &built.version);
    if !built.dirty.is_empty() {
        printer.warn(&format!("building from a dirty tree: {}", list_some(&built.dirty, 5)));
    }
    if let Some(previous) = &built.moved_from {
        printer.warn(&format!(
            "tag {name}:{tag} moved from {previous} to {}: the content changed but the version did not; \
             bump the version in bundle.toml so that a tag keeps meaning one bundle",
            built.digest
        ));
    }
    if printer.is_json() {
        printer.json(&built)?;
    } else {
        printer.status(
            "Built",
            &format!(
                "{name} {tag} ({} files, {}) into {}",
                built.files,
                human_size(built.size),
                built.store
            ),
        );
        printer.line(&format!("{name}:{tag}@{}", built.digest))?;
    }
    Ok(ExitStatus::Success)
}

/// `a, b, c and 4 more`.
fn list_some(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let text = shown.join(", ");
    if items.len() > max { format!("{text} and {} more", items.len() - max) } else { text }
}

fn list(args: &ListArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let store = open_store(&args.store, options)?;
    let listed = store.list().with_context(|| format!("cannot list store `{}`", args.store))?;
    let annotation = |m: &baton_model::oci::Manifest, key: &str| {
        m.annotations.get(&format!("org.opencontainers.image.{key}")).cloned().unwrap_or_default()
    };
    if printer.is_json() {
        let items: Vec<_> = listed
            .iter()
            .map(|l| ListedBundle {
                name: l.name.clone(),
                tag: l.tag.clone(),
                version: annotation(&l.manifest, "version"),
                digest: l.digest.clone(),
                reference: format!("{}/{}@{}", args.store, l.name, l.digest),
                size: l.size,
                created: annotation(&l.manifest, "created"),
                bundle: l.manifest.is_bundle(),
            })
            .collect();
        printer.json(&items)?;
        return Ok(ExitStatus::Success);
    }
    if listed.is_empty() {
        printer.status("Empty", &format!("no bundles in {}", args.store));
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.tag.clone().unwrap_or_else(|| "-".into()),
                format!("sha256:{}", l.digest.short()),
                human_size(l.size),
                annotation(&l.manifest, "created"),
            ]
        })
        .collect();
    printer.table(&["NAME", "VERSION", "DIGEST", "SIZE", "CREATED"], &rows)?;
    Ok(ExitStatus::Success)
}

/// Opens a bundle, turning findings about its manifest or config into an error for commands
/// that cannot go on without them.
fn open_or_report(
    resolved: &Resolved,
    printer: &Printer,
) -> Result<std::result::Result<Opened, ExitStatus>> {
    match baton_bundle::open_bundle(&*resolved.blobs(), &resolved.digest) {
        Ok(opened) => Ok(Ok(opened)),
        Err(OpenError::Findings(findings)) => {
            report_findings(resolved, None, &findings, printer)?;
            Ok(Err(ExitStatus::Findings))
        }
        Err(OpenError::Io(e)) => {
            Err(e).with_context(|| format!("cannot read {}", resolved.pinned()))
        }
    }
}

fn inspect(args: &RefArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let opened = match open_or_report(&resolved, printer)? {
        Ok(opened) => opened,
        Err(status) => return Ok(status),
    };
    let config = &opened.config;
    if printer.is_json() {
        printer.json(&InspectReport {
            reference: resolved.pinned(),
            digest: opened.digest.clone(),
            size: opened.size(),
            manifest: opened.manifest.clone(),
            config: config.clone(),
        })?;
        return Ok(ExitStatus::Success);
    }
    let heading = |text: &str| printer.paint(BOLD, text);
    let mut lines = vec![
        format!("{} {} {}", heading("Bundle"), config.name, config.version),
        format!("  digest       {}", opened.digest),
        format!("  reference    {}", resolved.pinned()),
        format!("  created      {}", config.created),
        format!("  size         {} ({} files)", human_size(opened.size()), config.files.len()),
    ];
    if let Some(description) = &config.description {
        lines.push(format!("  description  {description}"));
    }
    lines.push(String::new());
    lines.push(heading("Source"));
    match &config.source {
        Some(source) => {
            lines.push(format!(
                "  repository   {}",
                source.repository.as_deref().unwrap_or("(no remote `origin`)")
            ));
            lines.push(format!("  commit       {}", source.commit));
            lines.push(format!("  tree         {} ({})", source.tree, source.path));
            lines.push(format!(
                "  clean        {}",
                if source.clean { "yes" } else { "no: built with --allow-dirty" }
            ));
        }
        None => lines.push("  not built from a git work tree".into()),
    }
    lines.push(String::new());
    lines.push(heading("Manifest"));
    lines.push(format!(
        "  artifactType {}",
        opened.manifest.artifact_type.as_deref().unwrap_or("-")
    ));
    lines.push(format!(
        "  config       {} {} ({})",
        opened.manifest.config.digest,
        human_size(opened.manifest.config.size),
        opened.manifest.config.media_type
    ));
    let layer = opened.layer();
    lines.push(format!(
        "  layer        {} {} ({})",
        layer.digest,
        human_size(layer.size),
        layer.media_type
    ));
    lines.push(format!(
        "  tar          {} {}",
        config.layer.tar_digest,
        human_size(config.layer.tar_size)
    ));
    let c = &config.layer.compressor;
    lines.push(format!(
        "  compressor   {} {} level {}, {} blocks",
        c.name,
        c.version,
        c.level,
        human_size(c.block_size)
    ));
    lines.push(String::new());
    lines.push(heading("Render"));
    lines.push(if config.render.is_empty() {
        "  (nothing: every file is copied byte for byte)".into()
    } else {
        format!("  {}", config.render.join(", "))
    });
    lines.push(String::new());
    for line in &lines {
        printer.line(line)?;
    }
    printer.line(&heading("Parameters"))?;
    if config.params.is_empty() {
        printer.line("  (none)")?;
    } else {
        printer.table(&["  NAME", "TYPE", "RULES", "DESCRIPTION"], &param_rows(config))?;
    }
    printer.line("")?;
    printer.line(&heading("Files"))?;
    printer.table(&["  MODE", "SIZE", "CONTENT", "PATH"], &file_rows(config))?;
    Ok(ExitStatus::Success)
}

fn param_rows(config: &baton_model::BundleConfig) -> Vec<Vec<String>> {
    config
        .params
        .specs()
        .iter()
        .map(|(name, spec)| {
            let mut rules = Vec::new();
            if spec.required {
                rules.push("required".to_owned());
            }
            if let Some(default) = &spec.default {
                rules.push(format!("default {default}"));
            }
            if let Some(allowed) = &spec.allowed {
                rules.push(format!(
                    "one of {}",
                    allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join("|")
                ));
            }
            if let Some(min) = spec.minimum {
                rules.push(format!(">= {min}"));
            }
            if let Some(max) = spec.maximum {
                rules.push(format!("<= {max}"));
            }
            if let Some(pattern) = &spec.pattern {
                rules.push(format!("matches {pattern}"));
            }
            if spec.secret {
                rules.push("secret".to_owned());
            }
            vec![
                format!("  {name}"),
                format!("{:?}", spec.ty).to_lowercase(),
                rules.join(", "),
                spec.description.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

fn file_rows(config: &baton_model::BundleConfig) -> Vec<Vec<String>> {
    config
        .files
        .iter()
        .map(|f| {
            let content = match (&f.sha256, &f.target) {
                (Some(digest), _) => format!("sha256:{}", digest.short()),
                (None, Some(target)) => format!("-> {target}"),
                (None, None) => String::new(),
            };
            vec![format!("  {}", f.mode), human_size(f.size), content, f.path.clone()]
        })
        .collect()
}

fn report_findings(
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

fn verify(args: &RefArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let (opened, findings) =
        baton_bundle::verify_bundle(&*resolved.blobs(), &resolved.digest, Limits::STANDARD)
            .with_context(|| format!("cannot read {}", resolved.pinned()))?;
    report_findings(&resolved, opened.as_ref(), &findings, printer)?;
    Ok(if findings.is_empty() { ExitStatus::Success } else { ExitStatus::Findings })
}

fn unpack(args: &UnpackArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let opened = match open_or_report(&resolved, printer)? {
        Ok(opened) => opened,
        Err(status) => return Ok(status),
    };
    let blobs = resolved.blobs();
    let layer = blobs
        .open_blob(&opened.layer().digest)
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

fn copy(args: &CopyArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
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

fn export(args: &ExportArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let resolved = Resolved::new(&args.reference, options)?;
    let opened = match open_or_report(&resolved, printer)? {
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

fn import(args: &ImportArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
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
