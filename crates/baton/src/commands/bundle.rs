//! `baton bundle …`: build, list, inspect, verify and unpack bundles in a store.

use std::path::Path;

use anyhow::{Context, Result, bail};
use baton_bundle::{BuildContext, Descriptor, Finding, Limits, OpenError, Opened, UnpackError};
use baton_model::{BlobSource, Digest, Reference, Selector, StoreLocation};
use baton_state::WorkFile;
use baton_store::{CopyReport, LayoutStore, Progress, ProgressEvent, RegistryOptions, Store};
use serde_json::json;

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
    // A registry store is built into a temporary layout first, then copied: one code path writes
    // bundles, and `copy` is the one path that moves them.
    let staging = match &args.store {
        StoreLocation::Layout(_) => None,
        StoreLocation::Registry { .. } => {
            Some(tempfile::tempdir().context("cannot create a temporary store")?)
        }
    };
    let store = match (&args.store, &staging) {
        (StoreLocation::Layout(path), _) => LayoutStore::new(path.clone()),
        (_, Some(temp)) => LayoutStore::new(temp.path().to_owned()),
        (_, None) => unreachable!("a registry store always has a staging layout"),
    };
    let dir = &args.dir;
    let context = || format!("cannot build a bundle from `{}`", dir.display());
    let descriptor = Descriptor::read_skipping(dir, store_inside(&store, dir).as_deref())
        .with_context(context)?;
    let files: Vec<WorkFile<'_>> = descriptor
        .entries
        .iter()
        .map(|e| WorkFile {
            path: &e.path,
            kind: e.kind,
            executable: e.executable,
            target: e.target.as_deref(),
        })
        .collect();
    let provenance = baton_state::provenance(dir, &files).with_context(context)?;
    if let Some(found) = &provenance
        && !found.source.clean
    {
        if !args.allow_dirty {
            bail!(
                "cannot build a bundle from `{}`: its files differ from commit {} in {}\n\
                 commit them, or pass --allow-dirty to build anyway (the bundle then records the tree as dirty)",
                dir.display(),
                &found.source.commit[..12.min(found.source.commit.len())],
                list_some(&found.dirty_paths, 5),
            );
        }
        printer.warn(&format!("building from a dirty tree: {}", list_some(&found.dirty_paths, 5)));
    }
    let epoch = match crate::env::source_date_epoch()? {
        Some(epoch) => epoch,
        None => provenance.as_ref().map_or(0, |p| p.commit_time),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let build_context = BuildContext { epoch, source: provenance.map(|p| p.source), threads };

    let name = &descriptor.file.bundle.name;
    let writer = store.blob_writer(name).with_context(context)?;
    let bar = printer.progress(descriptor.content_size(), &format!("packing {name}"));
    let (built, writer) =
        baton_bundle::build(&descriptor, &build_context, writer, &|done| bar.set_position(done))
            .with_context(context)?;
    bar.finish_and_clear();
    let (layer_digest, _) = writer.commit()?;
    if layer_digest != built.layer().digest {
        bail!(
            "internal error: the store hashed the layer to {layer_digest}, the bundler to {}",
            built.layer().digest
        );
    }
    store.put_blob(name, &built.config_bytes)?;
    let tag = built.config.version.to_string();
    let mut stored = store.put_manifest(name, &built.manifest_bytes, Some(&tag))?;
    let mut pushed = None;
    if staging.is_some() {
        let target = open_store(&args.store, options)?;
        let (bar, progress) = transfer_progress(printer, &format!("pushing {name}"));
        let report = baton_store::copy(
            &Store::Layout(store.clone()),
            name,
            &built.digest,
            &target,
            Some(&tag),
            &progress,
        )
        .with_context(|| format!("cannot push {name}:{tag} to `{}`", args.store))?;
        bar.finish_and_clear();
        stored.moved_from.clone_from(&report.moved_from);
        pushed = Some(report);
    }
    if let Some(previous) = &stored.moved_from {
        printer.warn(&format!(
            "tag {name}:{tag} moved from {previous} to {}: the content changed but the version did not; \
             bump the version in bundle.toml so that a tag keeps meaning one bundle",
            stored.digest
        ));
    }
    report_built(&built, &args.store, pushed.as_ref(), printer)?;
    Ok(ExitStatus::Success)
}

fn report_built(
    built: &baton_bundle::Built,
    store: &StoreLocation,
    pushed: Option<&CopyReport>,
    printer: &Printer,
) -> Result<()> {
    let name = &built.config.name;
    let tag = built.config.version.to_string();
    let reference = format!("{store}/{name}@{}", built.digest);
    if printer.is_json() {
        printer.json(&json!({
            "name": name.as_str(),
            "version": tag,
            "digest": built.digest,
            "reference": reference,
            "tag_reference": format!("{store}/{name}:{tag}"),
            "size": built.size(),
            "store": store.to_string(),
            "files": built.config.files.len(),
            "config": built.manifest.config,
            "layer": built.layer(),
            "source": built.config.source,
            "created": built.config.created,
            "pushed": pushed.map(|report| copy_json(report, &reference)),
        }))?;
    } else {
        printer.status(
            "Built",
            &format!(
                "{name} {tag} ({} files, {}) into {store}",
                built.config.files.len(),
                human_size(built.size()),
            ),
        );
        printer.line(&format!("{name}:{tag}@{}", built.digest))?;
    }
    Ok(())
}

/// The store's directory relative to the descriptor, when the store lives inside it.
fn store_inside(store: &LayoutStore, descriptor: &Path) -> Option<std::path::PathBuf> {
    let store = fs_err::canonicalize(store.root()).ok()?;
    let descriptor = fs_err::canonicalize(descriptor).ok()?;
    store
        .strip_prefix(&descriptor)
        .ok()
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(Path::to_owned)
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
            .map(|l| {
                json!({
                    "name": l.name,
                    "tag": l.tag,
                    "version": annotation(&l.manifest, "version"),
                    "digest": l.digest,
                    "reference": format!("{}/{}@{}", args.store, l.name, l.digest),
                    "size": l.size,
                    "created": annotation(&l.manifest, "created"),
                    "bundle": l.manifest.is_bundle(),
                })
            })
            .collect();
        printer.json(&serde_json::Value::Array(items))?;
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
        printer.json(&json!({
            "reference": resolved.pinned(),
            "digest": opened.digest,
            "size": opened.size(),
            "manifest": opened.manifest,
            "config": config,
        }))?;
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
        let findings: Vec<_> =
            findings.iter().map(|f| json!({"subject": f.subject, "problem": f.problem})).collect();
        printer.json(&json!({
            "reference": resolved.pinned(),
            "digest": resolved.digest,
            "ok": findings.is_empty(),
            "files": opened.map(|o| o.config.files.len()),
            "findings": findings,
        }))?;
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
        printer.json(&json!({
            "reference": resolved.pinned(),
            "digest": resolved.digest,
            "into": args.into,
            "files": opened.config.files.len(),
        }))?;
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
        printer.json(&copy_json(&report, &destination))?;
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

fn copy_json(report: &CopyReport, reference: &str) -> serde_json::Value {
    json!({
        "digest": report.digest,
        "reference": reference,
        "blobs_skipped": report.blobs_skipped,
        "blobs_mounted": report.blobs_mounted,
        "blobs_uploaded": report.blobs_uploaded,
        "bytes_uploaded": report.bytes_uploaded,
        "seconds": report.seconds,
    })
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
    let file = &args.output_file;
    // The archive appears whole or not at all, 0666 less the umask like any file the user writes.
    let mut out = baton_fs::AtomicFile::create(file)
        .with_context(|| format!("cannot write `{}`", file.display()))?;
    let blobs = resolved.blobs();
    baton_bundle::archive::export(
        &*blobs,
        &opened.digest,
        &opened.manifest_bytes,
        &opened.manifest,
        &tag,
        &mut out,
    )
    .with_context(|| format!("cannot export {}", resolved.pinned()))?;
    out.commit().with_context(|| format!("cannot write `{}`", file.display()))?;
    let size = fs_err::metadata(file)?.len();
    if printer.is_json() {
        printer.json(&json!({"reference": resolved.pinned(), "digest": opened.digest, "file": file, "size": size, "tag": tag}))?;
    } else {
        printer.status(
            "Exported",
            &format!(
                "{} as {tag} into {} ({})",
                resolved.pinned(),
                file.display(),
                human_size(size)
            ),
        );
    }
    Ok(ExitStatus::Success)
}

fn import(args: &ImportArgs, printer: &Printer, options: &RegistryOptions) -> Result<ExitStatus> {
    let context = || format!("cannot import `{}`", args.file.display());
    let archive = fs_err::File::open(&args.file).with_context(context)?;
    let temp = tempfile::tempdir().with_context(context)?;
    let staging = temp.path().join("staging");
    let (digest, tag) = baton_bundle::archive::import(std::io::BufReader::new(archive), &staging)
        .with_context(context)?;
    // The layout's name is the bundle's: read it from the (verified) manifest and config.
    let name = {
        let blobs = baton_store::LayoutStore::new(temp.path());
        let probe: baton_model::BundleName =
            "staging".parse().expect("holds because `staging` is a valid name");
        match baton_bundle::open_bundle(&blobs.blobs(&probe), &digest) {
            Ok(opened) => opened.config.name,
            Err(e) => return Err(anyhow::anyhow!("{e}")).with_context(context),
        }
    };
    fs_err::rename(&staging, temp.path().join(name.as_str())).with_context(context)?;
    let source = Store::Layout(LayoutStore::new(temp.path()));
    let target = open_store(&args.store, options)?;
    let (bar, progress) = transfer_progress(printer, &format!("importing {name}"));
    let report = baton_store::copy(&source, &name, &digest, &target, tag.as_deref(), &progress)
        .with_context(context)?;
    bar.finish_and_clear();
    let destination = format!("{}/{name}@{digest}", args.store);
    if printer.is_json() {
        printer.json(&copy_json(&report, &destination))?;
    } else {
        printer.status("Imported", &format!("{} into {}", args.file.display(), args.store));
        printer.line(&destination)?;
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
