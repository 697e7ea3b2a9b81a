//! The OCI image layout store: `PATH/NAME/{oci-layout,index.json,blobs/sha256/…}` per bundle.

use std::{
    io::{self, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use baton_model::{
    BlobSource, BundleName, Digest, DigestWriter, Selector,
    oci::{self, Index, Manifest},
};

use baton_fs::{LockFile, sync_dir, temp_file_in, write_atomic};

use crate::StoreError;

const OCI_LAYOUT: &[u8] = b"{\"imageLayoutVersion\":\"1.0.0\"}";

/// Removes, once per process and layout, the temporary files a killed writer left there (a
/// build or copy killed mid-blob): the first write to a layout cleans it.
fn clean_once(layout: &Path, blobs: &Path) -> Result<(), StoreError> {
    static CLEANED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut cleaned = CLEANED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if cleaned.iter().any(|d| d == layout) {
        return Ok(());
    }
    let removed = baton_fs::remove_stale_temps(blobs)? + baton_fs::remove_stale_temps(layout)?;
    if removed > 0 {
        tracing::info!(layout = %layout.display(), removed, "removed temporary files a killed writer left");
    }
    cleaned.push(layout.to_owned());
    Ok(())
}
/// Manifests are small; anything larger than this is not one of ours.
pub(crate) const MANIFEST_LIMIT: u64 = 4 << 20;

/// An OCI image layout store rooted at a directory.
#[derive(Debug, Clone)]
pub struct LayoutStore {
    root: PathBuf,
}

/// One tagged (or untagged) manifest in a store, as `index.json` lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The bundle name (the layout's directory name).
    pub name: String,
    /// The tag, when the entry has one.
    pub tag: Option<String>,
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// Manifest, config and layers added up.
    pub size: u64,
}

/// The blobs of one bundle in a layout store.
#[derive(Debug, Clone, Copy)]
pub struct LayoutBlobs<'a> {
    store: &'a LayoutStore,
    name: &'a BundleName,
}

impl BlobSource for LayoutBlobs<'_> {
    fn open_manifest(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        // The caller bounds what it reads of a manifest (4 MiB).
        Ok(Box::new(self.open_file(digest)?))
    }

    fn open_blob(&self, digest: &Digest, size: u64) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(baton_model::SizedReader::new(self.open_file(digest)?, digest, size)))
    }
}

impl LayoutBlobs<'_> {
    fn open_file(&self, digest: &Digest) -> io::Result<io::BufReader<fs_err::File>> {
        match self.store.open_blob(self.name, digest) {
            Ok(file) => Ok(io::BufReader::with_capacity(256 * 1024, file)),
            Err(e @ StoreError::UnknownDigest { .. }) => {
                Err(io::Error::new(io::ErrorKind::NotFound, e.to_string()))
            }
            Err(StoreError::Io(e)) => Err(e),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }
}

/// What `put_manifest` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The manifest's digest.
    pub digest: Digest,
    /// The digest the tag pointed to before, when the tag moved.
    pub moved_from: Option<Digest>,
}

/// Streams a blob into the store; [`BlobWriter::commit`] makes it visible under its digest.
pub struct BlobWriter {
    store: String,
    dir: PathBuf,
    file: DigestWriter<BufWriter<tempfile::NamedTempFile>>,
}

impl LayoutStore {
    /// A store at `root`; nothing is created until the first write.
    pub fn new(root: impl Into<PathBuf>) -> LayoutStore {
        LayoutStore { root: root.into() }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store as written, `oci:PATH`.
    pub fn label(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    /// The layout directory of bundle `name`.
    pub fn layout_dir(&self, name: &BundleName) -> PathBuf {
        self.root.join(name.as_str())
    }

    /// The path a blob has (or would have) in the layout of `name`.
    pub fn blob_path(&self, name: &BundleName, digest: &Digest) -> PathBuf {
        self.layout_dir(name).join("blobs").join(digest.algorithm()).join(digest.hex())
    }

    fn check_root(&self) -> Result<(), StoreError> {
        match fs_err::metadata(&self.root) {
            Ok(meta) if !meta.is_dir() => {
                Err(StoreError::NotADirectory { path: self.root.clone() })
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the layout of `name` if it is missing and returns its blobs directory.
    fn ensure_layout(&self, name: &BundleName) -> Result<PathBuf, StoreError> {
        self.check_root()?;
        let dir = self.layout_dir(name);
        let blobs = dir.join("blobs").join("sha256");
        fs_err::create_dir_all(&blobs)?;
        clean_once(&dir, &blobs)?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, OCI_LAYOUT)?;
        }
        Ok(blobs)
    }

    /// Opens a writer for a new blob of bundle `name`.
    pub fn blob_writer(&self, name: &BundleName) -> Result<BlobWriter, StoreError> {
        let dir = self.ensure_layout(name)?;
        let temp = temp_file_in(&dir)?;
        Ok(BlobWriter {
            store: self.label(),
            dir,
            file: DigestWriter::new(BufWriter::with_capacity(1 << 20, temp)),
        })
    }

    /// Writes a small blob held in memory.
    pub fn put_blob(&self, name: &BundleName, bytes: &[u8]) -> Result<Digest, StoreError> {
        let mut writer = self.blob_writer(name)?;
        writer.write_all(bytes)?;
        Ok(writer.commit()?.0)
    }

    /// True when the layout of `name` holds a blob named `digest`.
    pub fn has_blob(&self, name: &BundleName, digest: &Digest) -> bool {
        self.blob_path(name, digest).is_file()
    }

    /// Hard-links blob `digest` of `name` from layout store `from` into this one, after checking
    /// its size. No byte moves, so none is re-hashed here: a blob changed in place is found by
    /// `verify`, by the applier and by the auditor, which re-hash every byte they read. Returns
    /// false when the two stores are on different file systems.
    pub fn link_blob(
        &self,
        name: &BundleName,
        from: &LayoutStore,
        digest: &Digest,
        size: u64,
    ) -> Result<bool, StoreError> {
        let source = from.blob_path(name, digest);
        let found = fs_err::metadata(&source)?.len();
        if found != size {
            return Err(StoreError::WrongSize {
                path: source,
                digest: digest.clone(),
                found,
                expected: size,
            });
        }
        let dir = self.ensure_layout(name)?;
        let target = dir.join(digest.hex());
        match fs_err::hard_link(&source, &target) {
            Ok(()) => {
                sync_dir(&dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(true),
            // EXDEV: another file system. Its kind survives fs_err's wrapping (the raw OS error
            // does not), so the stream copy takes over.
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a blob for streaming; the caller re-hashes what it reads.
    pub fn open_blob(
        &self,
        name: &BundleName,
        digest: &Digest,
    ) -> Result<fs_err::File, StoreError> {
        self.check_root()?;
        match fs_err::File::open(self.blob_path(name, digest)) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(self.unknown_digest(name, digest)),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a whole small blob and checks that it hashes to its digest.
    pub fn read_blob(
        &self,
        name: &BundleName,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let file = self.open_blob(name, digest)?;
        let size = file.metadata()?.len();
        if size > limit {
            return Err(StoreError::TooLarge {
                store: self.label(),
                digest: digest.clone(),
                size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(limit + 1).read_to_end(&mut bytes)?;
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

    /// Reads and parses a manifest, checking its bytes against its digest.
    pub fn read_manifest(
        &self,
        name: &BundleName,
        digest: &Digest,
    ) -> Result<(Vec<u8>, Manifest), StoreError> {
        let bytes = self.read_blob(name, digest, MANIFEST_LIMIT)?;
        let manifest = serde_json::from_slice(&bytes).map_err(|source| StoreError::Malformed {
            path: self.blob_path(name, digest),
            what: "image manifest",
            source,
        })?;
        Ok((bytes, manifest))
    }

    /// Stores image index `bytes` exactly as given (a referrers index) and points `tag` at it.
    /// Every manifest it lists must already be in the layout.
    pub fn put_index(
        &self,
        name: &BundleName,
        bytes: &[u8],
        tag: &str,
    ) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let index: Index =
            serde_json::from_slice(bytes).map_err(|source| StoreError::Malformed {
                path: self.blob_path(name, &digest),
                what: "image index",
                source,
            })?;
        for entry in &index.manifests {
            if !self.has_blob(name, &entry.digest) {
                return Err(StoreError::MissingBlob {
                    store: self.label(),
                    digest,
                    missing: entry.digest.clone(),
                });
            }
        }
        self.put_blob(name, bytes)?;
        let mut entry =
            oci::Descriptor::new(oci::INDEX_MEDIA_TYPE, digest.clone(), bytes.len() as u64);
        entry.annotations.insert(oci::REF_NAME.to_owned(), tag.to_owned());
        self.update_index(name, |index| {
            index.manifests.retain(|m| m.ref_name() != Some(tag));
            index.manifests.push(entry);
        })?;
        Ok(digest)
    }

    /// Stores manifest `bytes` exactly as given and, with `tag`, points the tag at it.
    ///
    /// Every blob the manifest names must already be in the layout. Storing a manifest that is
    /// already there under the same tag changes nothing.
    pub fn put_manifest(
        &self,
        name: &BundleName,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<Stored, StoreError> {
        let digest = Digest::of(bytes);
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|source| StoreError::Malformed {
                path: self.blob_path(name, &digest),
                what: "image manifest",
                source,
            })?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !self.has_blob(name, &blob.digest) {
                return Err(StoreError::MissingBlob {
                    store: self.label(),
                    digest,
                    missing: blob.digest.clone(),
                });
            }
        }
        self.put_blob(name, bytes)?;
        let mut entry =
            oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, digest.clone(), bytes.len() as u64);
        entry.artifact_type.clone_from(&manifest.artifact_type);
        if let Some(tag) = tag {
            entry.annotations.insert(oci::REF_NAME.to_owned(), tag.to_owned());
        }
        let mut moved_from = None;
        self.update_index(name, |index| {
            match tag {
                Some(tag) => index.manifests.retain(|m| {
                    let same_tag = m.ref_name() == Some(tag);
                    if same_tag && m.digest != entry.digest {
                        moved_from = Some(m.digest.clone());
                    }
                    !same_tag
                }),
                None if index.manifests.iter().any(|m| m.digest == entry.digest) => return,
                None => {}
            }
            index.manifests.push(entry);
        })?;
        Ok(Stored { digest, moved_from })
    }

    /// Reads `index.json` of bundle `name`.
    pub fn read_index(&self, name: &BundleName) -> Result<Index, StoreError> {
        self.check_root()?;
        let path = self.layout_dir(name).join("index.json");
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Malformed {
                path,
                what: "index",
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::UnknownBundle { store: self.label(), name: name.to_string() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Resolves a tag or digest of bundle `name` to a manifest digest held by the store.
    pub fn resolve(&self, name: &BundleName, selector: &Selector) -> Result<Digest, StoreError> {
        let index = self.read_index(name)?;
        match selector {
            Selector::Tag(tag) => index
                .manifests
                .iter()
                .find(|m| m.ref_name() == Some(tag.as_str()))
                .map(|m| m.digest.clone())
                .ok_or_else(|| StoreError::UnknownTag {
                    store: self.label(),
                    name: name.to_string(),
                    tag: tag.clone(),
                }),
            Selector::Digest(digest) => {
                if self.has_blob(name, digest) {
                    Ok(digest.clone())
                } else {
                    Err(self.unknown_digest(name, digest))
                }
            }
        }
    }

    /// Every manifest in every layout of the store, by name then tag; a store path that does not
    /// exist is an error ([`StoreError::NoStore`]), not an empty store.
    pub fn list(&self) -> Result<Vec<Listed>, StoreError> {
        self.check_root()?;
        let mut names = Vec::new();
        let entries = match fs_err::read_dir(&self.root) {
            Ok(entries) => entries,
            // A path nobody stored anything in is more likely a typo than an empty store.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoStore { path: self.root.clone() });
            }
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            if let Some(name) =
                entry.file_name().to_str().and_then(|n| n.parse::<BundleName>().ok())
                && entry.path().join("index.json").is_file()
            {
                names.push(name);
            }
        }
        names.sort();
        let mut listed = Vec::new();
        for name in names {
            for entry in self.read_index(&name)?.manifests {
                if entry.ref_name().is_some_and(crate::attached::is_evidence_tag) {
                    continue; // signatures or a referrers index, not a bundle
                }
                let (bytes, manifest) = self.read_manifest(&name, &entry.digest)?;
                if manifest.subject.is_some() {
                    continue; // a referrer (an attestation of a bundle), not a bundle
                }
                let size = bytes.len() as u64
                    + manifest.config.size
                    + manifest.layers.iter().map(|l| l.size).sum::<u64>();
                listed.push(Listed {
                    name: name.to_string(),
                    tag: entry.ref_name().map(str::to_owned),
                    digest: entry.digest,
                    manifest,
                    size,
                });
            }
        }
        Ok(listed)
    }

    /// The blobs of bundle `name`, as a [`BlobSource`] for verification and unpacking.
    pub fn blobs<'a>(&'a self, name: &'a BundleName) -> LayoutBlobs<'a> {
        LayoutBlobs { store: self, name }
    }

    fn unknown_digest(&self, name: &BundleName, digest: &Digest) -> StoreError {
        StoreError::UnknownDigest {
            store: self.label(),
            name: name.to_string(),
            digest: digest.clone(),
        }
    }

    /// Changes `index.json` of bundle `name` under an exclusive lock, replacing it atomically.
    fn update_index(
        &self,
        name: &BundleName,
        change: impl FnOnce(&mut Index),
    ) -> Result<(), StoreError> {
        let dir = self.layout_dir(name);
        let lock = LockFile::acquire(&dir.join("index.json.lock"))?;
        let mut index = match self.read_index(name) {
            Ok(index) => index,
            Err(StoreError::UnknownBundle { .. }) => Index::empty(),
            Err(e) => return Err(e),
        };
        let before = index.clone();
        change(&mut index);
        index.manifests.sort_by(|a, b| (a.ref_name(), &a.digest).cmp(&(b.ref_name(), &b.digest)));
        // An index that holds what it held is not written again: nothing in the store changes.
        if index != before || !dir.join("index.json").is_file() {
            let mut bytes = serde_json::to_vec_pretty(&index)
                .expect("holds because an index serialises to JSON");
            bytes.push(b'\n');
            write_atomic(&dir.join("index.json"), &bytes)?;
        }
        drop(lock);
        Ok(())
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// Like [`BlobWriter::commit`], but only when the bytes hash to `expected`; otherwise nothing
    /// is kept and the error names both digests.
    pub fn commit_expected(self, expected: &Digest) -> Result<(), StoreError> {
        let actual = self.file.digest();
        if &actual != expected {
            return Err(StoreError::Corrupt {
                store: self.store,
                digest: expected.clone(),
                actual,
            });
        }
        self.commit().map(|_| ())
    }

    /// Makes the blob durable and visible under its digest; a blob already there is kept as it is.
    pub fn commit(self) -> Result<(Digest, u64), StoreError> {
        let (digest, size, buffered) = self.file.finish();
        let temp = buffered.into_inner().map_err(io::IntoInnerError::into_error)?;
        let target = self.dir.join(digest.hex());
        if target.is_file() {
            return Ok((digest, size));
        }
        temp.as_file().sync_all()?;
        temp.persist(&target).map_err(|e| {
            io::Error::new(
                e.error.kind(),
                format!(
                    "failed to move blob into `{}` in store `{}`: {}",
                    target.display(),
                    self.store,
                    e.error
                ),
            )
        })?;
        sync_dir(&self.dir)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests;
