//! Building a bundle: the descriptor's entries become a deterministic tar, compressed in parallel
//! into the layer, then the config (with the file index) and the manifest, whose exact bytes are
//! the ones hashed.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    path::Path,
};

use baton_model::{
    BundleConfig, Compressor, Digest, DigestWriter, FileEntry, FileKind, LayerInfo,
    oci::{self, Manifest},
};

use crate::{
    descriptor::Descriptor,
    error::BuildError,
    gzip::{self, ParallelGzWriter},
    tarball::TarWriter,
};

/// Inputs of a build that come from outside the descriptor.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The mtime of every entry, in seconds since the epoch: 0, or `SOURCE_DATE_EPOCH`.
    pub epoch: i64,
    /// Compression threads; the output does not depend on it.
    pub threads: usize,
}

/// A built bundle: everything but the layer bytes, which went to the writer.
#[derive(Debug, Clone)]
pub struct Built {
    /// The config.
    pub config: BundleConfig,
    /// Its exact bytes.
    pub config_bytes: Vec<u8>,
    /// The manifest.
    pub manifest: Manifest,
    /// Its exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// The digest of `manifest_bytes`: the bundle's identity.
    pub digest: Digest,
}

impl Built {
    /// The layer's descriptor.
    pub fn layer(&self) -> &oci::Descriptor {
        &self.manifest.layers[0]
    }

    /// Manifest, config and layer sizes added up.
    pub fn size(&self) -> u64 {
        self.manifest_bytes.len() as u64 + self.config_bytes.len() as u64 + self.layer().size
    }
}

/// Packs `descriptor` and writes the gzip layer into `layer_out`; `progress` is called after
/// each entry with the content bytes packed so far.
/// (Long because it is one streaming pass: every file through the tar and gzip writers, then the
/// config and manifest from what was hashed.)
pub fn build<W: Write>(
    descriptor: &Descriptor,
    context: &BuildContext,
    layer_out: W,
    progress: &dyn Fn(u64),
) -> Result<(Built, W), BuildError> {
    let mtime = u64::try_from(context.epoch).map_err(|_| BuildError::Time(context.epoch))?;

    let gz = ParallelGzWriter::new(DigestWriter::new(layer_out), context.threads)?;
    let mut tar = TarWriter::new(DigestWriter::new(gz), mtime);
    let mut files = Vec::with_capacity(descriptor.entries.len());
    let mut buffer = vec![0; 256 * 1024];
    let mut packed = 0;
    for entry in &descriptor.entries {
        match entry.kind {
            FileKind::File => {
                let full = descriptor.root.join(&entry.path);
                let digest = pack_file(
                    &mut tar,
                    &full,
                    entry.path.as_str(),
                    entry.executable,
                    entry.size,
                    &mut buffer,
                )?;
                files.push(FileEntry {
                    path: entry.path.clone(),
                    kind: FileKind::File,
                    mode: if entry.executable { "0755" } else { "0644" }.to_owned(),
                    size: entry.size,
                    sha256: Some(digest),
                    target: None,
                });
            }
            FileKind::Symlink => {
                let target =
                    entry.target.clone().expect("holds because symlink entries carry a target");
                tar.symlink(&entry.path, &target)?;
                files.push(FileEntry {
                    path: entry.path.clone(),
                    kind: FileKind::Symlink,
                    mode: "0777".to_owned(),
                    size: 0,
                    sha256: None,
                    target: Some(target),
                });
            }
        }
        packed += entry.size;
        progress(packed);
    }
    let (tar_digest, tar_size, gz) = tar.finish()?.finish();
    let (layer_digest, layer_size, layer_out) = gz.finish()?.finish();

    let section = &descriptor.file.bundle;
    let config = BundleConfig {
        format: BundleConfig::FORMAT,
        name: section.name.clone(),
        version: section.version.clone(),
        description: section.description.clone(),
        created: None,
        params: descriptor.params.clone(),
        render: section.render.clone(),
        source: None,
        layer: LayerInfo {
            tar_digest,
            tar_size,
            compressor: Compressor {
                name: gzip::COMPRESSOR_NAME.to_owned(),
                version: gzip::COMPRESSOR_VERSION.to_owned(),
                level: gzip::LEVEL,
                block_size: gzip::BLOCK_SIZE as u64,
            },
        },
        files,
    };
    let config_bytes = config.to_bytes();

    // Only what follows from the files: no time, commit or URL (those are attested beside it).
    let annotations = BTreeMap::from([
        ("org.opencontainers.image.title".to_owned(), section.name.to_string()),
        ("org.opencontainers.image.version".to_owned(), section.version.to_string()),
    ]);
    let manifest = Manifest {
        schema_version: 2,
        media_type: oci::MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: Some(oci::ARTIFACT_TYPE.to_owned()),
        config: oci::Descriptor::new(
            oci::CONFIG_MEDIA_TYPE,
            Digest::of(&config_bytes),
            config_bytes.len() as u64,
        ),
        layers: vec![oci::Descriptor::new(oci::LAYER_MEDIA_TYPE, layer_digest, layer_size)],
        subject: None,
        annotations,
    };
    let manifest_bytes = manifest.to_bytes();
    let digest = Digest::of(&manifest_bytes);
    Ok((Built { config, config_bytes, manifest, manifest_bytes, digest }, layer_out))
}

/// Streams one file into the tar, hashing it on the way, and checks it did not change size.
pub(crate) fn pack_file<W: Write>(
    tar: &mut TarWriter<W>,
    full: &Path,
    path: &str,
    executable: bool,
    size: u64,
    buffer: &mut [u8],
) -> Result<Digest, BuildError> {
    let mut file = fs_err::File::open(full)?;
    tar.start_file(path, executable, size)?;
    let mut hasher = DigestWriter::sink();
    let mut remaining = size;
    while remaining > 0 {
        let want = usize::try_from(remaining.min(buffer.len() as u64))
            .expect("holds because the buffer is small");
        let n = file.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(BuildError::FileChanged {
                path: full.to_owned(),
                listed: size,
                read: size - remaining,
            });
        }
        hasher.update(&buffer[..n]);
        tar.content(&buffer[..n])?;
        remaining -= n as u64;
    }
    if file.read(&mut buffer[..1])? != 0 {
        return Err(BuildError::FileChanged {
            path: full.to_owned(),
            listed: size,
            read: size + 1,
        });
    }
    tar.end_file(size)?;
    Ok(hasher.finish().0)
}
