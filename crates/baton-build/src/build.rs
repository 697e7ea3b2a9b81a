//! `build`: a descriptor into a store. A registry store is built into a temporary layout first,
//! then copied: one code path writes bundles, and `copy` is the one path that moves them.

use std::path::{Path, PathBuf};

use baton_bundle::{BuildContext, Descriptor};
use baton_model::{BundleName, Digest, Source, StoreLocation, oci};
use baton_state::WorkFile;
use baton_store::{LayoutStore, Progress, RegistryOptions, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::{BuildError, CopyOutcome};

/// What to build, and where.
pub struct BuildRequest<'a> {
    /// The descriptor directory.
    pub dir: PathBuf,
    /// The store to build into.
    pub store: StoreLocation,
    /// Build even when the files differ from the commit.
    pub allow_dirty: bool,
    /// Compression threads.
    pub threads: usize,
    /// `SOURCE_DATE_EPOCH`, when the user set it: the mtime of every entry (else 0).
    pub epoch: Option<i64>,
    /// How registries are reached.
    pub registry: &'a RegistryOptions,
    /// Signs the bundle in the store, in cosign's format.
    pub sign_key: Option<&'a baton_sign::SigningKey>,
}

/// How a build reports progress: bytes packed, then (for a registry) the push.
pub struct BuildProgress<'a> {
    /// Called with the total of content bytes, before packing.
    pub packing_total: &'a dyn Fn(u64),
    /// Called with the content bytes packed so far.
    pub packed: &'a dyn Fn(u64),
    /// The push to a registry.
    pub push: &'a Progress,
}

/// What `build` made (`baton bundle build --output json`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BuildReport {
    /// The bundle's name.
    pub name: String,
    /// Its version, which is its tag.
    pub version: String,
    /// The manifest digest: the bundle's identity.
    pub digest: Digest,
    /// `STORE/NAME@DIGEST`, the reference that never moves.
    pub reference: String,
    /// `STORE/NAME:VERSION`.
    pub tag_reference: String,
    /// Manifest, config and layer bytes.
    pub size: u64,
    /// The store.
    pub store: String,
    /// How many files the bundle holds.
    pub files: usize,
    /// The config's descriptor.
    pub config: oci::Descriptor,
    /// The layer's descriptor.
    pub layer: oci::Descriptor,
    /// Where it came from, when built inside a git repository. Not part of the bundle: the
    /// same files give the same digest at any commit.
    pub source: Option<Source>,
    /// True when the store already held this digest under this version: nothing was written and
    /// no tag moved.
    #[serde(default)]
    pub unchanged: bool,
    /// The push to a registry store.
    pub pushed: Option<CopyOutcome>,
    /// The paths that differ from the commit (with `--allow-dirty`); empty when clean.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirty: Vec<String>,
    /// The digest the version's tag named before, when this build moved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Digest>,
    /// The signature, with `--sign-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<crate::SignReport>,
    /// The SLSA provenance attestation attached as a referrer (signed with `--sign-key`);
    /// absent when the build was unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<oci::Descriptor>,
}

/// Builds the descriptor at `request.dir` into `request.store`.
/// (Long because it is the whole build in order: descriptor, provenance, pack, store, push; each
/// step a few lines.)
pub fn build(
    request: &BuildRequest<'_>,
    progress: &BuildProgress<'_>,
) -> Result<BuildReport, BuildError> {
    let started = jiff::Timestamp::now();
    let dir = &request.dir;
    let staging = match &request.store {
        StoreLocation::Layout(_) => None,
        StoreLocation::Registry { .. } => Some(
            tempfile::tempdir()
                .map_err(|source| BuildError::Write { path: std::env::temp_dir(), source })?,
        ),
    };
    let layout = match (&request.store, &staging) {
        (StoreLocation::Layout(path), _) => LayoutStore::new(path.clone()),
        (_, Some(temp)) => LayoutStore::new(temp.path().to_owned()),
        (_, None) => unreachable!("a registry store always has a staging layout"),
    };
    let store_error =
        |e| BuildError::Store { store: request.store.to_string(), source: Box::new(e) };
    let descriptor = Descriptor::read_skipping(dir, store_inside(&layout, dir).as_deref())
        .map_err(|e| BuildError::Descriptor { dir: dir.clone(), source: Box::new(e) })?;
    let (source, dirty) = checked_source(request, &descriptor)?;
    // The bundle is its files: the commit and its time stay out of it.
    let context = BuildContext { epoch: request.epoch.unwrap_or(0), threads: request.threads };
    let name = &descriptor.file.bundle.name;
    let writer = layout.blob_writer(name).map_err(store_error)?;
    (progress.packing_total)(descriptor.content_size());
    let (built, writer) = baton_bundle::build(&descriptor, &context, writer, progress.packed)
        .map_err(|e| BuildError::Pack { dir: dir.clone(), source: Box::new(e) })?;
    let (layer_digest, _) = writer.commit().map_err(store_error)?;
    if layer_digest != built.layer().digest {
        return Err(BuildError::LayerMismatch {
            store: layer_digest,
            bundler: built.layer().digest.clone(),
        });
    }
    let tag = built.config.version.to_string();
    let unchanged = staging.is_none()
        && holds(&Store::Layout(layout.clone()), name, &tag, &built.digest).map_err(store_error)?;
    layout.put_blob(name, &built.config_bytes).map_err(store_error)?;
    let mut stored =
        layout.put_manifest(name, &built.manifest_bytes, Some(&tag)).map_err(store_error)?;
    let reference = format!("{}/{name}@{}", request.store, built.digest);
    // The store the bundle is in now: the layout, or the registry it was pushed to.
    let (target, unchanged, pushed) = if staging.is_some() {
        let (target, copied) = push(request, &layout, name, &tag, &built.digest, progress.push)?;
        match copied {
            Some(report) => {
                stored.moved_from.clone_from(&report.moved_from);
                (target, false, Some(CopyOutcome::of(&report, &reference)))
            }
            None => (target, true, None),
        }
    } else {
        (Store::Layout(layout.clone()), unchanged, None)
    };
    // Where it came from is attested beside it. A rebuild of unchanged files writes nothing, so
    // the provenance names the commit the bytes were first built from.
    let facts = crate::provenance::BuildFacts {
        name,
        version: &tag,
        digest: &built.digest,
        source: source.as_ref(),
        started,
    };
    let (signed, provenance) = attach_evidence(request, &target, &facts, unchanged)?;
    Ok(BuildReport {
        name: name.to_string(),
        version: tag.clone(),
        digest: built.digest.clone(),
        tag_reference: format!("{}/{name}:{tag}", request.store),
        reference,
        size: built.size(),
        store: request.store.to_string(),
        files: built.config.files.len(),
        config: built.manifest.config.clone(),
        layer: built.layer().clone(),
        source,
        unchanged,
        pushed,
        dirty,
        moved_from: stored.moved_from,
        signed,
        provenance,
    })
}

/// Where the descriptor came from in git, when it is in a work tree, and the paths that differ
/// from the commit; a dirty descriptor is refused unless `--allow-dirty`.
fn checked_source(
    request: &BuildRequest<'_>,
    descriptor: &Descriptor,
) -> Result<(Option<Source>, Vec<String>), BuildError> {
    let dir = &request.dir;
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
    let provenance = baton_state::provenance(dir, &files)
        .map_err(|e| BuildError::Provenance { dir: dir.clone(), source: Box::new(e) })?;
    let mut dirty = Vec::new();
    if let Some(found) = &provenance
        && !found.source.clean
    {
        if !request.allow_dirty {
            return Err(BuildError::Dirty {
                dir: dir.clone(),
                commit: found.source.commit.chars().take(12).collect(),
                paths: list_some(&found.dirty_paths, 5),
            });
        }
        dirty.clone_from(&found.dirty_paths);
    }
    Ok((provenance.map(|p| p.source), dirty))
}

/// Signs the built bundle (with a key) and attaches its provenance (unless unchanged) in
/// `target`, the store it was built into.
fn attach_evidence(
    request: &BuildRequest<'_>,
    target: &Store,
    facts: &crate::provenance::BuildFacts<'_>,
    unchanged: bool,
) -> Result<(Option<crate::SignReport>, Option<oci::Descriptor>), BuildError> {
    let error = |e| BuildError::Store { store: request.store.to_string(), source: Box::new(e) };
    let signed = request
        .sign_key
        .map(|key| crate::sign(target, facts.name, facts.digest, key))
        .transpose()
        .map_err(error)?;
    let provenance = if unchanged {
        None
    } else {
        Some(crate::provenance::attach(target, facts, request.sign_key).map_err(error)?)
    };
    Ok((signed, provenance))
}

/// Copies the bundle built into the staging `layout` to the registry the request names, unless it
/// already holds the digest under `tag` (then `None`: nothing was written). Returns the opened
/// registry with what the copy did.
fn push(
    request: &BuildRequest<'_>,
    layout: &LayoutStore,
    name: &BundleName,
    tag: &str,
    digest: &Digest,
    progress: &Progress,
) -> Result<(Store, Option<baton_store::CopyReport>), BuildError> {
    let push_error = |e| BuildError::Push {
        name: name.clone(),
        tag: tag.to_owned(),
        store: request.store.clone(),
        source: Box::new(e),
    };
    let target = Store::open(&request.store, request.registry).map_err(push_error)?;
    if holds(&target, name, tag, digest).map_err(push_error)? {
        return Ok((target, None));
    }
    let layout = Store::Layout(layout.clone());
    let report = baton_store::copy(&layout, name, digest, &target, Some(tag), progress)
        .map_err(push_error)?;
    Ok((target, Some(report)))
}

/// True when `store` holds `digest` under `tag`: a rebuild of unchanged files, which says so and
/// writes nothing (a layout keeps the blobs it has; a registry is not written at all).
fn holds(store: &Store, name: &BundleName, tag: &str, digest: &Digest) -> Result<bool, StoreError> {
    Ok(store.resolve_tag(name, tag)?.as_ref() == Some(digest))
}

/// The store's directory, relative to the descriptor, when it lies inside it: it is not packed.
fn store_inside(store: &LayoutStore, descriptor: &Path) -> Option<PathBuf> {
    let store = fs_err::canonicalize(store.root()).ok()?;
    let descriptor = fs_err::canonicalize(descriptor).ok()?;
    store
        .strip_prefix(&descriptor)
        .ok()
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(Path::to_owned)
}

/// `a, b, c and 4 more`: the first `max` of `items` (dirty paths, for example).
pub fn list_some(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let text = shown.join(", ");
    if items.len() > max { format!("{text} and {} more", items.len() - max) } else { text }
}
