//! `Store`: one interface over both kinds of store, and `copy`, the one primitive promotion uses
//! to move a bundle between any two stores with its digest unchanged.

use std::{
    io::{Read, Write},
    time::Instant,
};

use baton_model::{BlobSource, BundleName, Digest, Selector, StoreLocation, oci::Manifest};

use crate::{
    LayoutStore, Progress, ProgressEvent, RegistryOptions, RegistryStore, StoreError, Stored,
    layout::MANIFEST_LIMIT,
};

/// A store of either kind.
pub enum Store {
    /// `oci:PATH`.
    Layout(LayoutStore),
    /// `HOST[:PORT]/PATH`.
    Registry(Box<RegistryStore>),
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyReport {
    /// The manifest digest, the same at both ends.
    pub digest: Digest,
    /// Blobs the destination already held.
    pub blobs_skipped: u64,
    /// Blobs mounted from another repository of the same registry, or hard-linked between layouts.
    pub blobs_mounted: u64,
    /// Blobs sent.
    pub blobs_uploaded: u64,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The digest the tag pointed to before, when the copy moved it.
    pub moved_from: Option<Digest>,
    /// Signatures copied with the bundle that the target did not hold.
    pub signatures_carried: u64,
    /// Referrers (attestations) copied with the bundle that the target did not list.
    pub referrers_carried: u64,
}

impl Store {
    /// Opens the store at `location`.
    pub fn open(location: &StoreLocation, options: &RegistryOptions) -> Result<Store, StoreError> {
        Ok(match location {
            StoreLocation::Layout(path) => Store::Layout(LayoutStore::new(path.clone())),
            StoreLocation::Registry { host, path } => {
                Store::Registry(Box::new(RegistryStore::connect(host, path, options)?))
            }
        })
    }

    /// The store as written.
    pub fn label(&self) -> String {
        match self {
            Store::Layout(store) => store.label(),
            Store::Registry(store) => store.location(),
        }
    }

    /// Resolves a tag or digest of bundle `name` to a manifest digest the store holds.
    pub fn resolve(&self, name: &BundleName, selector: &Selector) -> Result<Digest, StoreError> {
        match self {
            Store::Layout(store) => store.resolve(name, selector),
            Store::Registry(store) => store.resolve(name, selector),
        }
    }

    /// The blobs of bundle `name`.
    pub fn blobs<'a>(&'a self, name: &'a BundleName) -> Box<dyn BlobSource + 'a> {
        match self {
            Store::Layout(store) => Box::new(store.blobs(name)),
            Store::Registry(store) => Box::new(store.blobs(name)),
        }
    }

    /// Reads manifest bytes and checks them against `digest`.
    pub fn read_manifest(&self, name: &BundleName, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        match self {
            Store::Layout(store) => store.read_blob(name, digest, MANIFEST_LIMIT),
            Store::Registry(store) => store.read_manifest(name, digest),
        }
    }

    /// True when the store holds blob `digest` for bundle `name`.
    pub fn has_blob(&self, name: &BundleName, digest: &Digest) -> Result<bool, StoreError> {
        match self {
            Store::Layout(store) => Ok(store.has_blob(name, digest)),
            Store::Registry(store) => store.has_blob(name, digest),
        }
    }

    /// Every bundle manifest the store lists, by name then tag.
    pub fn list(&self) -> Result<Vec<crate::Listed>, StoreError> {
        match self {
            Store::Layout(store) => store.list(),
            Store::Registry(store) => store.list(),
        }
    }

    /// The digest `tag` of `name` names; `None` when there is no such tag (or bundle).
    pub fn resolve_tag(&self, name: &BundleName, tag: &str) -> Result<Option<Digest>, StoreError> {
        match self.resolve(name, &baton_model::Selector::Tag(tag.to_owned())) {
            Ok(found) => Ok(Some(found)),
            Err(StoreError::UnknownTag { .. } | StoreError::UnknownBundle { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores a small blob held in memory in `name`'s repository; one already there is kept.
    pub fn put_blob(&self, name: &BundleName, bytes: &[u8]) -> Result<Digest, StoreError> {
        match self {
            Store::Layout(store) => store.put_blob(name, bytes),
            Store::Registry(store) => store.put_blob(name, bytes),
        }
    }

    /// Reads blob `digest` of `size` bytes whole, refusing one over `limit` bytes; the digest and
    /// size are checked as it is read.
    pub fn read_small_blob(
        &self,
        name: &BundleName,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Vec<u8>, StoreError> {
        if size > limit {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "blob {digest} in `{}` is {size} bytes, more than the {limit} baton reads for it",
                self.label()
            ))));
        }
        let blobs = self.blobs(name);
        let mut reader = blobs.open_blob(digest, size).map_err(StoreError::Io)?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        reader.read_to_end(&mut bytes)?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(StoreError::Corrupt {
                store: self.label(),
                digest: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Stores manifest bytes exactly as given; with `tag`, points it at them.
    pub fn put_manifest(
        &self,
        name: &BundleName,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<Stored, StoreError> {
        match self {
            Store::Layout(store) => store.put_manifest(name, bytes, tag),
            Store::Registry(store) => store.put_manifest(name, bytes, tag),
        }
    }

    /// Stores manifest bytes exactly as given under `tag`, in as few writes as the store allows
    /// (one request to a registry), for tags whose previous target nobody needs to know: what
    /// baton keeps beside a bundle. Returns the digest.
    pub fn put_tagged(
        &self,
        name: &BundleName,
        bytes: &[u8],
        tag: &str,
    ) -> Result<Digest, StoreError> {
        match self {
            Store::Layout(store) => Ok(store.put_manifest(name, bytes, Some(tag))?.digest),
            Store::Registry(store) => store.put_tagged(name, bytes, tag),
        }
    }
}

/// Blobs sent at once by one copy.
const PARALLEL_BLOBS: usize = 4;

/// Copies bundle `name` at `digest` from `source` to `target`, tagging it `tag` there, or with
/// the bundle's version (its `org.opencontainers.image.version` annotation) when `tag` is `None`.
///
/// Blobs the target holds are skipped; within one registry they are mounted; every other byte is
/// streamed and re-hashed; the manifest goes last, by digest, then the tag.
pub fn copy(
    source: &Store,
    name: &BundleName,
    digest: &Digest,
    target: &Store,
    tag: Option<&str>,
    progress: &Progress,
) -> Result<CopyReport, StoreError> {
    copy_with(source, name, digest, target, Tagging::Tag(tag), progress)
}

/// [`copy`] by digest only: no tag of the target moves (the promoter moves the version tag once
/// the pin naming the digest is committed, in the order of the commits).
pub fn copy_untagged(
    source: &Store,
    name: &BundleName,
    digest: &Digest,
    target: &Store,
    progress: &Progress,
) -> Result<CopyReport, StoreError> {
    copy_with(source, name, digest, target, Tagging::Untagged, progress)
}

/// Which tag a copy points at the bundle.
#[derive(Clone, Copy)]
enum Tagging<'a> {
    /// This one, or the bundle's version when `None`.
    Tag(Option<&'a str>),
    /// None.
    Untagged,
}

fn copy_with(
    source: &Store,
    name: &BundleName,
    digest: &Digest,
    target: &Store,
    tagging: Tagging<'_>,
    progress: &Progress,
) -> Result<CopyReport, StoreError> {
    let started = Instant::now();
    let manifest_bytes = source.read_manifest(name, digest)?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| StoreError::Malformed {
            path: format!("{}/{name}@{digest}", source.label()).into(),
            what: "image manifest",
            source: e,
        })?;
    let mut report = CopyReport {
        digest: digest.clone(),
        blobs_skipped: 0,
        blobs_mounted: 0,
        blobs_uploaded: 0,
        bytes_uploaded: 0,
        seconds: 0.0,
        moved_from: None,
        signatures_carried: 0,
        referrers_carried: 0,
    };
    let blobs_size = manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
    progress(ProgressEvent::Total(blobs_size));
    let mut to_send = Vec::new();
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if target.has_blob(name, &blob.digest)? {
            report.blobs_skipped += 1;
            progress(ProgressEvent::Bytes(blob.size));
            continue;
        }
        match (source, target) {
            (Store::Layout(from), Store::Layout(to))
                if to.link_blob(name, from, &blob.digest, blob.size)? =>
            {
                report.blobs_mounted += 1;
                progress(ProgressEvent::Bytes(blob.size));
                continue;
            }
            (Store::Registry(from), Store::Registry(to))
                if from.host() == to.host()
                    && to.mount_blob(name, &from.repository(name), &blob.digest)? =>
            {
                report.blobs_mounted += 1;
                progress(ProgressEvent::Bytes(blob.size));
                continue;
            }
            _ => {}
        }
        to_send.push(blob);
    }
    // What must be sent goes in parallel, at most PARALLEL_BLOBS at once; the first error wins.
    for batch in to_send.chunks(PARALLEL_BLOBS) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|blob| {
                    scope
                        .spawn(|| transfer(source, name, &blob.digest, blob.size, target, progress))
                })
                .collect();
            handles.into_iter().try_for_each(|handle| {
                handle.join().expect("holds because a transfer does not panic")
            })
        })?;
        report.blobs_uploaded += batch.len() as u64;
        report.bytes_uploaded += batch.iter().map(|blob| blob.size).sum::<u64>();
    }
    let version = manifest.annotations.get("org.opencontainers.image.version");
    let tag = match tagging {
        Tagging::Tag(tag) => tag.or(version.map(String::as_str)),
        Tagging::Untagged => None,
    };
    let stored = target.put_manifest(name, &manifest_bytes, tag)?;
    debug_assert_eq!(&stored.digest, digest);
    report.moved_from = stored.moved_from;
    // Its signatures go with it, unchanged, beside any the target holds.
    report.signatures_carried =
        crate::attached::carry(source, target, name, digest, crate::attached::SIGNATURES)? as u64;
    report.referrers_carried =
        crate::referrers::carry_referrers(source, target, name, digest)? as u64;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Streams one blob from `source` into `target`, re-hashed on the way.
fn transfer(
    source: &Store,
    name: &BundleName,
    digest: &Digest,
    size: u64,
    target: &Store,
    progress: &Progress,
) -> Result<(), StoreError> {
    match target {
        Store::Layout(to) => {
            let blobs = source.blobs(name);
            let mut reader = blobs.open_blob(digest, size).map_err(StoreError::Io)?;
            let mut writer = to.blob_writer(name)?;
            let mut buffer = vec![0; 256 * 1024];
            loop {
                let n = reader.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                writer.write_all(&buffer[..n])?;
                progress(ProgressEvent::Bytes(n as u64));
            }
            writer.commit_expected(digest)
        }
        Store::Registry(to) => match source {
            Store::Layout(from) => {
                to.push_blob_file(name, digest, size, &from.blob_path(name, digest), progress)
            }
            Store::Registry(from) => to.push_blob_from(name, digest, size, from, progress),
        },
    }
}
