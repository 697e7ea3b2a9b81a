//! Bundles as one file for air-gapped sites: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) in a deterministic tar, readable by `skopeo inspect oci-archive:…` and by
//! `tar -x`. Export streams every blob from a store, re-hashed; import verifies every blob
//! before anything is handed on.

use std::{
    collections::BTreeMap,
    io::{self, Read, Write},
    path::Path,
};

use baton_model::{BlobSource, Digest, DigestWriter, oci};

use crate::tarball::TarWriter;

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A blob's bytes do not hash to its name.
    #[error("blob {digest} hashes to {actual}: refused")]
    Mismatch {
        /// The name it came under.
        digest: Digest,
        /// What its bytes hash to.
        actual: Digest,
    },
    /// The archive is not an OCI layout of one bundle.
    #[error("the archive is not an OCI image layout of one bundle: {0}")]
    NotALayout(String),
    /// A read or write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes the bundle `digest` (manifest `manifest_bytes`) from `source` as a layout tar into
/// `out`, tagged `tag` in its `index.json`.
pub fn export(
    source: &dyn BlobSource,
    digest: &Digest,
    manifest_bytes: &[u8],
    manifest: &oci::Manifest,
    tag: &str,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut entry =
        oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, digest.clone(), manifest_bytes.len() as u64);
    entry.artifact_type.clone_from(&manifest.artifact_type);
    entry.annotations.insert(oci::REF_NAME.to_owned(), tag.to_owned());
    let index = oci::Index { manifests: vec![entry], ..oci::Index::empty() };
    let mut index_bytes =
        serde_json::to_vec_pretty(&index).expect("holds because an index serialises");
    index_bytes.push(b'\n');

    // Every blob once, sorted by digest: the tar's order depends on nothing else.
    let mut blobs: BTreeMap<&Digest, u64> = BTreeMap::new();
    blobs.insert(digest, manifest_bytes.len() as u64);
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        blobs.insert(&blob.digest, blob.size);
    }
    let mut tar = TarWriter::new(out, 0);
    tar.directory("blobs")?;
    tar.directory("blobs/sha256")?;
    let mut buffer = vec![0; 256 * 1024];
    for (blob, size) in blobs {
        tar.start_file(&format!("blobs/sha256/{}", blob.hex()), false, size)?;
        let mut hash = DigestWriter::sink();
        let mut remaining = size;
        let mut reader: Box<dyn Read> =
            if blob == digest { Box::new(manifest_bytes) } else { source.open_blob(blob, size)? };
        while remaining > 0 {
            let want = usize::try_from(remaining.min(buffer.len() as u64))
                .expect("holds because the buffer is small");
            let n = reader.read(&mut buffer[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("blob {blob} ended before its {size} bytes"),
                )
                .into());
            }
            hash.update(&buffer[..n]);
            tar.content(&buffer[..n])?;
            remaining -= n as u64;
        }
        let actual = hash.finish().0;
        if &actual != blob {
            return Err(ArchiveError::Mismatch { digest: blob.clone(), actual });
        }
        tar.end_file(size)?;
    }
    tar.start_file("index.json", false, index_bytes.len() as u64)?;
    tar.content(&index_bytes)?;
    tar.end_file(index_bytes.len() as u64)?;
    let layout = b"{\"imageLayoutVersion\":\"1.0.0\"}";
    tar.start_file("oci-layout", false, layout.len() as u64)?;
    tar.content(layout)?;
    tar.end_file(layout.len() as u64)?;
    tar.finish()?.flush()?;
    Ok(())
}

/// Reads a layout tar into directory `dir` (a new OCI layout), checking that every blob hashes
/// to its name. Returns the one manifest's digest and tag from `index.json`.
pub fn import(archive: impl Read, dir: &Path) -> Result<(Digest, Option<String>), ArchiveError> {
    let blobs_dir = dir.join("blobs/sha256");
    fs_err::create_dir_all(&blobs_dir)?;
    let mut index: Option<oci::Index> = None;
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = path.trim_start_matches("./");
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular => {}
            other => {
                return Err(ArchiveError::NotALayout(format!("entry `{path}` has type {other:?}")));
            }
        }
        if path == "index.json" {
            let mut bytes = Vec::new();
            (&mut entry).take(4 << 20).read_to_end(&mut bytes)?;
            index = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ArchiveError::NotALayout(format!("index.json: {e}")))?,
            );
        } else if path == "oci-layout" {
            // Its content is fixed by the spec; nothing to keep.
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let digest = Digest::from_hex(hex).map_err(|_| {
                ArchiveError::NotALayout(format!("`{path}` is not named by a sha256 digest"))
            })?;
            // 0666 less the umask: a blob linked from here into a store stays readable.
            let mut temp = baton_fs::temp_file_in(&blobs_dir)?;
            let mut hash = DigestWriter::new(temp.as_file_mut());
            io::copy(&mut entry, &mut hash)?;
            let actual = hash.finish().0;
            if actual != digest {
                return Err(ArchiveError::Mismatch { digest, actual });
            }
            temp.persist(blobs_dir.join(hex)).map_err(|e| e.error)?;
        } else {
            return Err(ArchiveError::NotALayout(format!("unexpected entry `{path}`")));
        }
    }
    let index = index.ok_or_else(|| ArchiveError::NotALayout("no index.json".into()))?;
    let [entry] = index.manifests.as_slice() else {
        return Err(ArchiveError::NotALayout(format!(
            "index.json lists {} manifests, not one",
            index.manifests.len()
        )));
    };
    if !blobs_dir.join(entry.digest.hex()).is_file() {
        return Err(ArchiveError::NotALayout(format!("the manifest {} is missing", entry.digest)));
    }
    Ok((entry.digest.clone(), entry.ref_name().map(str::to_owned)))
}
