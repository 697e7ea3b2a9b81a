//! OCI 1.1 referrers: artifacts (attestations) whose `subject` is a bundle manifest. Each is an
//! image manifest with an `artifactType`, the empty config and its layers, stored by digest in
//! the bundle's repository. A registry with the referrers API indexes it from its `subject`;
//! for every store baton also keeps the tag-schema fallback, the image index tagged
//! `sha256-<hex>` listing each referrer's descriptor (with its `artifactType` and annotations),
//! which is what oras and cosign read where the API answers 404 (Debian's distribution 2.8).
//! The index is read, merged and written again: under a lock in a layout. A registry has no
//! conditional writes, so two writers' merges can replace each other there; each referrer is
//! therefore also tagged on its own (`sha256-<subject hex>.ref-<32 hex of the referrer>`, a
//! write nobody else makes), the listing is the union of the index and those tags, and a writer
//! merges until the index holds every tagged referrer it can see, so the last writer leaves the
//! index whole for readers that know only the fallback tag.

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

/// The tag of referrer `referrer` of `subject` in a registry: `sha256-<hex>.ref-<32 hex>`.
pub fn referrer_tag(subject: &Digest, referrer: &Digest) -> String {
    format!("{}{}", referrer_tag_prefix(subject), &referrer.hex()[..32])
}

fn referrer_tag_prefix(subject: &Digest) -> String {
    format!("sha256-{}.ref-", subject.hex())
}

/// The referrers of `digest` of `name`: those the fallback index lists and, in a registry, those
/// tagged on their own that it does not (yet) list.
pub fn list_referrers(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<Vec<oci::Descriptor>, StoreError> {
    let (mut listed, tagged) = read_listing(store, name, digest)?;
    for (tag, prefix) in &tagged {
        if !listed.iter().any(|d| d.digest.hex().starts_with(prefix.as_str()))
            && let Some(descriptor) = tagged_referrer(store, name, tag, prefix)?
        {
            listed.push(descriptor);
        }
    }
    Ok(listed)
}

/// A referrer tag and the prefix of the referrer's digest it names.
type Tagged = (String, String);

/// The fallback index's entries, and each referrer tag with the digest prefix it names.
fn read_listing(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<(Vec<oci::Descriptor>, Vec<Tagged>), StoreError> {
    let tagged = match store {
        Store::Layout(_) => Vec::new(),
        Store::Registry(registry) => {
            let prefix = referrer_tag_prefix(digest);
            registry
                .tags(name)?
                .into_iter()
                .filter_map(|tag| {
                    let hex = tag.strip_prefix(&prefix)?.to_owned();
                    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                        .then_some((tag, hex))
                })
                .take(REFERRERS_LIMIT)
                .collect()
        }
    };
    Ok((read_index(store, name, digest)?, tagged))
}

/// The descriptor of the referrer tagged `tag`, read from its manifest; none when the tag is
/// gone or names a manifest whose digest does not start with `prefix` (not one baton wrote).
fn tagged_referrer(
    store: &Store,
    name: &BundleName,
    tag: &str,
    prefix: &str,
) -> Result<Option<oci::Descriptor>, StoreError> {
    let Some(digest) = store.resolve_tag(name, tag)? else {
        return Ok(None);
    };
    if !digest.hex().starts_with(prefix) {
        return Ok(None);
    }
    let (bytes, manifest) = read_referrer_manifest(store, name, &digest)?;
    let mut descriptor = oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, digest, bytes.len() as u64);
    descriptor.artifact_type = manifest.artifact_type;
    descriptor.annotations = manifest.annotations;
    Ok(Some(descriptor))
}

/// The entries of the fallback index of `digest`.
fn read_index(
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

/// The descriptor of manifest `digest` of `name` in `store`, as a referrer's `subject` names it.
pub fn subject_of(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<oci::Descriptor, StoreError> {
    let size = store.read_manifest(name, digest)?.len() as u64;
    Ok(oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, digest.clone(), size))
}

/// Stores an artifact of `artifact_type` holding `layers`, whose subject is manifest `subject`
/// of `name`, and lists it in the fallback index. Returns the artifact manifest's descriptor.
pub fn attach_artifact(
    store: &Store,
    name: &BundleName,
    subject: &oci::Descriptor,
    artifact_type: &str,
    layers: &[AttachedLayer],
    annotations: &BTreeMap<String, String>,
) -> Result<oci::Descriptor, StoreError> {
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
        subject: Some(subject.clone()),
        annotations: annotations.clone(),
    };
    let bytes = manifest.to_bytes();
    let stored = put_referrer(store, name, &subject.digest, &bytes)?;
    let mut entry = oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, stored, bytes.len() as u64);
    entry.artifact_type = Some(artifact_type.to_owned());
    entry.annotations = annotations.clone();
    add_to_index(store, name, &subject.digest, &entry)?;
    Ok(entry)
}

/// Lists referrer manifest `bytes` (already stored by digest, as a copy stores it) of `subject`
/// in the fallback index and, in a registry, under its own referrer tag. Returns its entry.
pub fn register_referrer(
    store: &Store,
    name: &BundleName,
    subject: &Digest,
    bytes: &[u8],
) -> Result<oci::Descriptor, StoreError> {
    let manifest: oci::Manifest =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Malformed {
            path: format!("{}/{name}@{}", store.label(), Digest::of(bytes)).into(),
            what: "image manifest",
            source: e,
        })?;
    let stored = put_referrer(store, name, subject, bytes)?;
    let mut entry = oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, stored, bytes.len() as u64);
    entry.artifact_type = manifest.artifact_type;
    entry.annotations = manifest.annotations;
    add_to_index(store, name, subject, &entry)?;
    Ok(entry)
}

/// Stores referrer manifest `bytes` of `subject` by digest and, in a registry, under its own
/// referrer tag. Returns its digest.
fn put_referrer(
    store: &Store,
    name: &BundleName,
    subject: &Digest,
    bytes: &[u8],
) -> Result<Digest, StoreError> {
    match store {
        Store::Layout(_) => Ok(store.put_manifest(name, bytes, None)?.digest),
        Store::Registry(_) => {
            store.put_tagged(name, bytes, &referrer_tag(subject, &Digest::of(bytes)))
        }
    }
}

/// Adds `entry` to the fallback index of `subject`, merged with every referrer tagged beside it,
/// until a read after the write finds the index holding all of them.
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
    // A referrer tag names one manifest for good: what it names is read once per write, not
    // once per attempt (many writers at once make many attempts).
    let mut resolved: BTreeMap<String, Option<oci::Descriptor>> = BTreeMap::new();
    for attempt in 0..ATTEMPTS {
        let (mut manifests, tagged) = read_listing(store, name, subject)?;
        let mut missing: Vec<oci::Descriptor> = Vec::new();
        if !manifests.iter().any(|m| m.digest == entry.digest) {
            missing.push(entry.clone());
        }
        for (tagged, prefix) in &tagged {
            let known = |d: &oci::Descriptor| d.digest.hex().starts_with(prefix.as_str());
            if !manifests.iter().any(known) && !missing.iter().any(known) {
                let descriptor = if let Some(descriptor) = resolved.get(tagged) {
                    descriptor.clone()
                } else {
                    let descriptor = tagged_referrer(store, name, tagged, prefix)?;
                    resolved.insert(tagged.clone(), descriptor.clone());
                    descriptor
                };
                missing.extend(descriptor);
            }
        }
        if missing.is_empty() {
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
        manifests.extend(missing);
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
                registry.put_tagged(name, &bytes, &tag)?;
            }
        }
    }
    Err(StoreError::Io(std::io::Error::other(format!(
        "{}/{name}:{tag} kept being replaced by other writers; run the command again",
        store.label()
    ))))
}

/// Referrers read at once by [`read_artifacts`].
const PARALLEL_READS: usize = 8;

/// What [`read_artifact`] reads: a referrer's manifest and its layers.
pub type Artifact = (oci::Manifest, Vec<AttachedLayer>);

/// Reads every referrer of `descriptors` as [`read_artifact`] does, several at once (each read
/// is a few small requests to a registry, so their latency, not their size, is the cost).
/// One result per descriptor, in their order.
pub fn read_artifacts(
    store: &Store,
    name: &BundleName,
    descriptors: &[oci::Descriptor],
    limit: u64,
) -> Vec<Result<Artifact, StoreError>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Artifact, StoreError>>> =
        std::iter::repeat_with(|| None).take(descriptors.len()).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..PARALLEL_READS.min(descriptors.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut read = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(descriptor) = descriptors.get(i) else { break };
                        read.push((i, read_artifact(store, name, descriptor, limit)));
                    }
                    read
                })
            })
            .collect();
        for worker in workers {
            for (i, result) in worker.join().expect("holds because a read does not panic") {
                results[i] = Some(result);
            }
        }
    });
    results.into_iter().map(|r| r.expect("holds because every index was taken")).collect()
}

/// Referrer manifest `digest` of `name`: its exact bytes and what they say.
fn read_referrer_manifest(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<(Vec<u8>, oci::Manifest), StoreError> {
    let bytes = store.read_manifest(name, digest)?;
    let manifest = serde_json::from_slice(&bytes).map_err(|source| StoreError::Malformed {
        path: format!("{}/{name}@{digest}", store.label()).into(),
        what: "referrer manifest",
        source,
    })?;
    Ok((bytes, manifest))
}

/// Reads referrer `descriptor` of `name`: its manifest and each layer (at most `limit` bytes).
pub fn read_artifact(
    store: &Store,
    name: &BundleName,
    descriptor: &oci::Descriptor,
    limit: u64,
) -> Result<(oci::Manifest, Vec<AttachedLayer>), StoreError> {
    let (_, manifest) = read_referrer_manifest(store, name, &descriptor.digest)?;
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
    // An environment's rendering belongs to its environment's store: it is never carried.
    let carried_type =
        |e: &oci::Descriptor| e.artifact_type.as_deref() != Some(oci::RENDERED_ARTIFACT_TYPE);
    for entry in
        theirs.iter().filter(|e| carried_type(e) && !ours.iter().any(|o| o.digest == e.digest))
    {
        let (bytes, manifest) = read_referrer_manifest(source, name, &entry.digest)?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let bytes = source.read_small_blob(
                name,
                &blob.digest,
                blob.size,
                crate::attached::LAYER_LIMIT,
            )?;
            target.put_blob(name, &bytes)?;
        }
        put_referrer(target, name, digest, &bytes)?;
        add_to_index(target, name, digest, entry)?;
        carried += 1;
    }
    Ok(carried)
}
