//! `bundle build` and `bundle list`.

use anyhow::{Context, Result};
use baton_build::{BuildProgress, BuildRequest, ListedBundle, list_some};
use baton_store::RegistryOptions;

use super::{open_store, transfer_progress};
use crate::{
    ExitStatus,
    cli::{BuildArgs, ListArgs},
    printer::{Printer, human_size},
};

pub(super) fn build(
    args: &BuildArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let key = args.sign_key.as_deref().map(baton_sign::SigningKey::from_pem_file).transpose()?;
    let request = BuildRequest {
        dir: args.dir.clone(),
        store: args.store.clone(),
        allow_dirty: args.allow_dirty,
        threads,
        epoch: crate::env::source_date_epoch()?,
        registry: options,
        sign_key: key.as_ref(),
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
    } else if built.unchanged {
        printer.status(
            "Unchanged",
            &format!(
                "{name} {tag}: {} already holds these files under this version; nothing written",
                built.store
            ),
        );
        printer.line(&format!("{name}:{tag}@{}", built.digest))?;
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
    if let (Some(signed), false) = (&built.signed, printer.is_json()) {
        let verb = if signed.added { "Signed" } else { "Unchanged" };
        printer.status(verb, &format!("signature by key {} in {}", signed.keyid, signed.tag));
    }
    Ok(ExitStatus::Success)
}

pub(super) fn list(
    args: &ListArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
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
                created: l.manifest.annotations.get("org.opencontainers.image.created").cloned(),
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
            ]
        })
        .collect();
    printer.table(&["NAME", "VERSION", "DIGEST", "SIZE"], &rows)?;
    Ok(ExitStatus::Success)
}
