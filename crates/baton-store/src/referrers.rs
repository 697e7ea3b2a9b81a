//! OCI 1.1 referrers: artifacts (attestations) whose `subject` is a bundle manifest. Each is an
//! image manifest with an `artifactType`, the empty config and its layers, stored by digest in
//! the bundle's repository. A registry with the referrers API indexes it from its `subject`;
//! for every store baton also keeps the tag-schema fallback, the image index tagged
//! `sha256-<hex>` listing each referrer's descriptor (with its `artifactType` and annotations),
//! which is what oras and cosign read where the API answers 404 (Debian's distribution 2.8).
//! The index is read, merged and written again: under a lock in a layout, and with a check that
//! the entry landed in a registry, which has no conditional writes.

use std::collections::BTreeMap;

use baton_model::{BundleName, Digest, oci};

use crate::{Store, StoreError, attached::AttachedLayer};

/// The most referrers baton reads from one index.
pub const REFERRERS_LIMIT: usize = 10_000;
/// Writes of one index merge before it gives up.
const ATTEMPTS: u32 = 16;
/// The empty config of an artifact.
const EMPTY: &[u8] = b"{}";

/// The fallback tag of the referrers of `digest`: `sha256-<hex>`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

/// The referrers of `digest` of `name`, as the fallback index lists them.
pub fn list_referrers(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<Vec<oci::Descriptor>, StoreError> {
    let tag = referrers_tag(digest);
    let Some(index) =
        crate::attached::read_tagged::<oci::Index>(store, name, &tag, "referrers index")?
    else {
        return Ok(Vec::new());
    };
    if index.manifests.len() > REFERRERS_LIMIT {
        return Err(StoreError::Io(std::io::Error::other(format!(
            "{}/{name}:{tag} lists {} referrers, more than the {REFERRERS_LIMIT} baton reads",
            store.label(),
            index.manifests.len()
        ))));
    }
    Ok(index.manifests)
}

/// Stores an artifact of `artifact_type` holding `layers`, whose subject is manifest `subject`
/// of `name`, and lists it in the fallback index. Returns the artifact manifest's descriptor.
pub fn attach_artifact(
    store: &Store,
    name: &BundleName,
    subject: &Digest,
    artifact_type: &str,
    layers: &[AttachedLayer],
    annotations: &BTreeMap<String, String>,
) -> Result<oci::Descriptor, StoreError> {
    let subject_size = store.read_manifest(name, subject)?.len() as u64;
    let mut descriptors = Vec::with_capacity(layers.len());
    for layer in layers {
        let digest = store.put_blob(name, &layer.bytes)?;
        let mut descriptor =
            oci::Descriptor::new(&layer.media_type, digest, layer.bytes.len() as u64);
        descriptor.annotations.clone_from(&layer.annotations);
        descriptors.push(descriptor);
    }
    let config = store.put_blob(name, EMPTY)?;
    let manifest = oci::Manifest {
        schema_version: 2,
        media_type: oci::MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: Some(artifact_type.to_owned()),
        config: oci::Descriptor::new(oci::EMPTY_MEDIA_TYPE, config, EMPTY.len() as u64),
        layers: descriptors,
        subject: Some(oci::Descriptor::new(
            oci::MANIFEST_MEDIA_TYPE,
            subject.clone(),
            subject_size,
        )),
        annotations: annotations.clone(),
    };
    let bytes = manifest.to_bytes();
    let stored = store.put_manifest(name, &bytes, None)?;
    let mut entry =
        oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, stored.digest, bytes.len() as u64);
    entry.artifact_type = Some(artifact_type.to_owned());
    entry.annotations = annotations.clone();
    add_to_index(store, name, subject, &entry)?;
    Ok(entry)
}

/// Adds `entry` to the fallback index of `subject`, checking that it landed.
fn add_to_index(
    store: &Store,
    name: &BundleName,
    subject: &Digest,
    entry: &oci::Descriptor,
) -> Result<(), StoreError> {
    let _lock = match store {
        Store::Layout(layout) => {
            Some(baton_fs::LockFile::acquire(&layout.layout_dir(name).join("referrers.lock"))?)
        }
        Store::Registry(_) => None,
    };
    let tag = referrers_tag(subject);
    for attempt in 0..ATTEMPTS {
        let mut manifests = list_referrers(store, name, subject)?;
        if manifests.iter().any(|m| m.digest == entry.digest) {
            return Ok(());
        }
        if attempt > 0 {
            // Another writer's index replaced ours between its read and write: spread out.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let ceiling = 10 * u64::from(1u32 << attempt.min(6));
            std::thread::sleep(std::time::Duration::from_millis(u64::from(nanos) % ceiling));
        }
        manifests.push(entry.clone());
        let index = oci::Index {
            schema_version: 2,
            media_type: Some(oci::INDEX_MEDIA_TYPE.to_owned()),
            manifests,
        };
        let bytes = serde_json::to_vec(&index).expect("holds because an index serialises");
        match store {
            Store::Layout(layout) => {
                layout.put_index(name, &bytes, &tag)?;
            }
            Store::Registry(registry) => {
                registry.put_manifest(name, &bytes, Some(&tag))?;
            }
        }
    }
    Err(StoreError::Io(std::io::Error::other(format!(
        "{}/{name}:{tag} kept being replaced by other writers; run the command again",
        store.label()
    ))))
}

/// Reads referrer `descriptor` of `name`: its manifest and each layer (at most `limit` bytes).
pub fn read_artifact(
    store: &Store,
    name: &BundleName,
    descriptor: &oci::Descriptor,
    limit: u64,
) -> Result<(oci::Manifest, Vec<AttachedLayer>), StoreError> {
    let bytes = store.read_manifest(name, &descriptor.digest)?;
    let manifest: oci::Manifest =
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Malformed {
            path: format!("{}/{name}@{}", store.label(), descriptor.digest).into(),
            what: "referrer manifest",
            source,
        })?;
    let layers = manifest
        .layers
        .iter()
        .map(|layer| {
            Ok(AttachedLayer {
                media_type: layer.media_type.clone(),
                annotations: layer.annotations.clone(),
                bytes: store.read_small_blob(name, &layer.digest, layer.size, limit)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((manifest, layers))
}

/// Carries every referrer of `digest` from `source` to `target`, unchanged (the same manifest
/// bytes, so the same digests), and lists each in the target's fallback index. Returns how many
/// the target did not list.
pub fn carry_referrers(
    source: &Store,
    target: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<usize, StoreError> {
    let theirs = list_referrers(source, name, digest)?;
    if theirs.is_empty() {
        return Ok(0);
    }
    let ours = list_referrers(target, name, digest)?;
    let mut carried = 0;
    for entry in theirs.iter().filter(|e| !ours.iter().any(|o| o.digest == e.digest)) {
        let bytes = source.read_manifest(name, &entry.digest)?;
        let manifest: oci::Manifest =
            serde_json::from_slice(&bytes).map_err(|source_error| StoreError::Malformed {
                path: format!("{}/{name}@{}", source.label(), entry.digest).into(),
                what: "referrer manifest",
                source: source_error,
            })?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let bytes = source.read_small_blob(
                name,
                &blob.digest,
                blob.size,
                crate::attached::LAYER_LIMIT,
            )?;
            target.put_blob(name, &bytes)?;
        }
        target.put_manifest(name, &bytes, None)?;
        add_to_index(target, name, digest, entry)?;
        carried += 1;
    }
    Ok(carried)
}
