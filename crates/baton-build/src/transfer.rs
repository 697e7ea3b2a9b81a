//! One bundle as a file and back: `export` writes a tar of an OCI layout, `import` reads one
//! (every blob re-hashed against its name) and copies the bundle into a store.

use std::path::{Path, PathBuf};

use baton_bundle::Opened;
use baton_model::{BlobSource, BundleName, Digest, StoreLocation};
use baton_store::{CopyReport, LayoutStore, Progress, RegistryOptions, Store};
use serde::{Deserialize, Serialize};

use crate::BuildError;

/// What a copy did (`bundle copy`, `bundle import`, the push of `bundle build`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CopyOutcome {
    /// The manifest digest, the same at both ends.
    pub digest: Digest,
    /// `STORE/NAME@DIGEST` at the destination.
    pub reference: String,
    /// Blobs the destination already held.
    pub blobs_skipped: u64,
    /// Blobs mounted within one registry, or hard-linked between layouts.
    pub blobs_mounted: u64,
    /// Blobs sent.
    pub blobs_uploaded: u64,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl CopyOutcome {
    /// The outcome of `report`, arriving as `reference`.
    pub fn of(report: &CopyReport, reference: &str) -> CopyOutcome {
        CopyOutcome {
            digest: report.digest.clone(),
            reference: reference.to_owned(),
            blobs_skipped: report.blobs_skipped,
            blobs_mounted: report.blobs_mounted,
            blobs_uploaded: report.blobs_uploaded,
            bytes_uploaded: report.bytes_uploaded,
            seconds: report.seconds,
        }
    }
}

/// What `export` wrote (`baton bundle export --output json`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportReport {
    /// The pinned reference exported.
    pub reference: String,
    /// Its digest.
    pub digest: Digest,
    /// The archive.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The tag recorded in the archive's index.
    pub tag: String,
}

/// Writes the opened bundle as a tar of an OCI layout at `file`, atomically (0666 less the
/// umask, the directory fsynced), tagged `tag`.
pub fn export(
    blobs: &dyn BlobSource,
    opened: &Opened,
    reference: &str,
    tag: &str,
    file: &Path,
) -> Result<ExportReport, BuildError> {
    let write = |source| BuildError::Write { path: file.to_owned(), source };
    let mut out = baton_fs::AtomicFile::create(file).map_err(write)?;
    baton_bundle::archive::export(
        blobs,
        &opened.digest,
        &opened.manifest_bytes,
        &opened.manifest,
        tag,
        &mut out,
    )
    .map_err(|e| BuildError::Export { reference: reference.to_owned(), source: Box::new(e) })?;
    out.commit().map_err(write)?;
    let size = fs_err::metadata(file).map_err(write)?.len();
    Ok(ExportReport {
        reference: reference.to_owned(),
        digest: opened.digest.clone(),
        file: file.to_owned(),
        size,
        tag: tag.to_owned(),
    })
}

/// Reads the archive at `file` into a temporary layout (each blob must hash to its name), then
/// copies the bundle into `store`.
pub fn import(
    file: &Path,
    store: &StoreLocation,
    registry: &RegistryOptions,
    progress: &Progress,
) -> Result<(BundleName, CopyOutcome), BuildError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| BuildError::Import {
        file: file.to_owned(),
        source: e,
    };
    let archive = fs_err::File::open(file).map_err(|e| failed(Box::new(e)))?;
    let temp = tempfile::tempdir().map_err(|e| failed(Box::new(e)))?;
    let staging = temp.path().join("staging");
    let (digest, tag) = baton_bundle::archive::import(std::io::BufReader::new(archive), &staging)
        .map_err(|e| failed(Box::new(e)))?;
    // The layout's name is the bundle's: read it from the (verified) manifest and config.
    let probe: BundleName = "staging".parse().expect("holds because `staging` is a valid name");
    let config = baton_bundle::open_bundle(&LayoutStore::new(temp.path()).blobs(&probe), &digest)
        .map_err(|e| failed(Box::new(e)))?
        .config;
    // A bundle is tagged with its version and nothing else, as `build` and `copy` tag it: an
    // archive's index may say anything, and a tag is what people and tools resolve.
    let version = config.version.to_string();
    if let Some(tag) = tag.as_deref().filter(|t| *t != version) {
        return Err(BuildError::ImportTag {
            file: file.to_owned(),
            tag: tag.to_owned(),
            bundle: config.name,
            version,
        });
    }
    let name = config.name;
    fs_err::rename(&staging, temp.path().join(name.as_str())).map_err(|e| failed(Box::new(e)))?;
    let source = Store::Layout(LayoutStore::new(temp.path()));
    let target = Store::open(store, registry)
        .map_err(|e| BuildError::Store { store: store.to_string(), source: Box::new(e) })?;
    let report = baton_store::copy(&source, &name, &digest, &target, tag.as_deref(), progress)
        .map_err(|e| failed(Box::new(e)))?;
    let reference = format!("{store}/{name}@{digest}");
    Ok((name, CopyOutcome::of(&report, &reference)))
}
