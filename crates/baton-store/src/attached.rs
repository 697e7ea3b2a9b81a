//! What is attached to a bundle by tag, as cosign does it: the manifest tagged
//! `sha256-<hex>.<suffix>` (`sig` for signatures) in the bundle's repository holds one small layer
//! per attached item (for a signature: the payload, with the signature in an annotation). The
//! manifest is read, merged and written again; a layout does it under a lock, a registry (which
//! has no conditional writes) checks after writing that every new layer is there and merges
//! again when another writer's manifest replaced it.
//!
//! This module knows OCI only; what a layer means (a cosign payload) is `baton-sign`'s.

use std::collections::BTreeMap;

use baton_model::{BundleName, Digest, oci};

use crate::{Store, StoreError};

/// The suffix of signatures: `sha256-<hex>.sig`, cosign's tag.
pub const SIGNATURES: &str = "sig";
/// The largest attached layer baton reads (a signature payload is a few hundred bytes).
pub const LAYER_LIMIT: u64 = 1024 * 1024;
/// The most layers baton reads from one attached manifest.
pub const LAYERS_LIMIT: usize = 1000;
/// Media type of the config of an attached manifest: an image config, as cosign writes.
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Writes of one merge before it gives up (a registry with that many writers at once).
const ATTEMPTS: u32 = 8;

/// One attached layer: its media type, annotations and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedLayer {
    /// The layer's media type.
    pub media_type: String,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl AttachedLayer {
    fn descriptor(&self) -> oci::Descriptor {
        let mut descriptor = oci::Descriptor::new(
            &self.media_type,
            Digest::of(&self.bytes),
            self.bytes.len() as u64,
        );
        descriptor.annotations.clone_from(&self.annotations);
        descriptor
    }
}

/// The tag of what is attached to `digest` with `suffix`: `sha256-<hex>.<suffix>`.
pub fn attached_tag(digest: &Digest, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", digest.hex())
}

/// True for a tag baton keeps beside a bundle's versions: what is attached to a digest
/// (`sha256-<64 hex>.<suffix>`) and its referrers fallback index (`sha256-<64 hex>`).
pub fn is_evidence_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|rest| {
        let hex = rest.split_once('.').map_or(rest, |(hex, _)| hex);
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && !rest.ends_with('.')
    })
}

/// The layers attached to `digest` of `name` with `suffix`; none when nothing is attached.
pub fn read_attached(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
    suffix: &str,
) -> Result<Vec<AttachedLayer>, StoreError> {
    let tag = attached_tag(digest, suffix);
    let Some(manifest) = read_tagged::<oci::Manifest>(store, name, &tag, "attached manifest")?
    else {
        return Ok(Vec::new());
    };
    if manifest.layers.len() > LAYERS_LIMIT {
        return Err(StoreError::Io(std::io::Error::other(format!(
            "{}/{name}:{tag} has {} layers, more than the {LAYERS_LIMIT} baton reads",
            store.label(),
            manifest.layers.len()
        ))));
    }
    manifest
        .layers
        .iter()
        .map(|layer| {
            Ok(AttachedLayer {
                media_type: layer.media_type.clone(),
                annotations: layer.annotations.clone(),
                bytes: store.read_small_blob(name, &layer.digest, layer.size, LAYER_LIMIT)?,
            })
        })
        .collect()
}

/// The document tagged `tag` in `name`'s repository, parsed; `None` when there is no such tag.
pub(crate) fn read_tagged<T: serde::de::DeserializeOwned>(
    store: &Store,
    name: &BundleName,
    tag: &str,
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    let Some(digest) = store.resolve_tag(name, tag)? else {
        return Ok(None);
    };
    let bytes = store.read_manifest(name, &digest)?;
    serde_json::from_slice(&bytes).map(Some).map_err(|source| StoreError::Malformed {
        path: format!("{}/{name}:{tag}", store.label()).into(),
        what,
        source,
    })
}

/// Attaches `layers` to `digest` of `name` with `suffix`, beside what is attached already (a
/// layer already there is not added twice). Returns how many were added.
pub fn attach(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
    suffix: &str,
    layers: &[AttachedLayer],
) -> Result<usize, StoreError> {
    let _lock = match store {
        Store::Layout(layout) => {
            let dir = layout.layout_dir(name);
            fs_err::create_dir_all(&dir)?;
            Some(baton_fs::LockFile::acquire(&dir.join(format!("{suffix}.lock")))?)
        }
        Store::Registry(_) => None,
    };
    let mut added = None;
    for attempt in 0..ATTEMPTS {
        let current = read_attached(store, name, digest, suffix)?;
        let missing: Vec<&AttachedLayer> = layers.iter().filter(|l| !current.contains(l)).collect();
        if missing.is_empty() {
            return Ok(added.unwrap_or(0));
        }
        added.get_or_insert(missing.len());
        let mut merged = current.clone();
        merged.extend(missing.into_iter().cloned());
        write(store, name, digest, suffix, &merged)?;
        if attempt > 0 {
            // Another writer replaced the manifest between our read and write: spread out.
            std::thread::sleep(std::time::Duration::from_millis(20 * u64::from(attempt)));
        }
    }
    Err(StoreError::Io(std::io::Error::other(format!(
        "{}/{name}:{} kept being replaced by other writers; run the command again",
        store.label(),
        attached_tag(digest, suffix)
    ))))
}

/// Writes the attached manifest holding exactly `layers`.
fn write(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
    suffix: &str,
    layers: &[AttachedLayer],
) -> Result<(), StoreError> {
    let descriptors: Vec<oci::Descriptor> = layers.iter().map(AttachedLayer::descriptor).collect();
    for layer in layers {
        store.put_blob(name, &layer.bytes)?;
    }
    let diff_ids: Vec<String> = descriptors.iter().map(|d| d.digest.to_string()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .expect("holds because a JSON value serialises");
    let config_digest = store.put_blob(name, &config)?;
    let manifest = oci::Manifest {
        schema_version: 2,
        media_type: oci::MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: None,
        config: oci::Descriptor::new(CONFIG_MEDIA_TYPE, config_digest, config.len() as u64),
        layers: descriptors,
        subject: None,
        annotations: BTreeMap::new(),
    };
    store.put_manifest(name, &manifest.to_bytes(), Some(&attached_tag(digest, suffix)))?;
    Ok(())
}

/// Carries what is attached to `digest` with `suffix` from `source` to `target`, merged with
/// what `target` holds. Returns how many layers were added there.
pub fn carry(
    source: &Store,
    target: &Store,
    name: &BundleName,
    digest: &Digest,
    suffix: &str,
) -> Result<usize, StoreError> {
    let layers = read_attached(source, name, digest, suffix)?;
    if layers.is_empty() {
        return Ok(0);
    }
    attach(target, name, digest, suffix, &layers)
}
