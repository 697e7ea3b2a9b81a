//! Opening a stored bundle by digest: the manifest and config are read whole (they are small) and
//! checked against their digests; the layer is streamed by `verify_layer` or `unpack`.

use std::io::{self, Read};

use baton_model::{BlobSource, BundleConfig, Digest, oci::Manifest};

use crate::layer::{Finding, Limits, verify_layer};

/// The largest manifest accepted.
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// The largest config accepted (the file index of a very large descriptor).
pub const CONFIG_LIMIT: u64 = 256 << 20;

/// A bundle's manifest and config, both checked against their digests.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// Its exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// The config.
    pub config: BundleConfig,
    /// Its exact bytes.
    pub config_bytes: Vec<u8>,
}

/// Why a bundle could not be opened: findings (the bytes are wrong) or an IO error (the source failed).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The manifest or config is missing, corrupt or not a bundle's.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Findings(Vec<Finding>),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Opened {
    /// The layer's descriptor.
    pub fn layer(&self) -> &baton_model::oci::Descriptor {
        &self.manifest.layers[0]
    }

    /// Manifest, config and layer sizes added up.
    pub fn size(&self) -> u64 {
        self.manifest_bytes.len() as u64 + self.config_bytes.len() as u64 + self.layer().size
    }
}

/// Reads `reader` to its end, at most `limit` bytes.
fn read_limited(mut reader: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    (&mut reader).take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn finding(subject: String, problem: impl Into<String>) -> OpenError {
    OpenError::Findings(vec![Finding { subject, problem: problem.into() }])
}

/// Reads a manifest (`size` None) or a blob of `size` bytes, at most `limit` bytes, and checks
/// its digest.
fn read_checked(
    source: &dyn BlobSource,
    what: &str,
    digest: &Digest,
    limit: u64,
    size: Option<u64>,
) -> Result<Vec<u8>, OpenError> {
    let subject = format!("{what} {digest}");
    if let Some(size) = size
        && size > limit
    {
        return Err(finding(
            subject,
            format!("is {size} bytes, more than the {limit} allowed: refused"),
        ));
    }
    let opened = match size {
        None => source.open_manifest(digest),
        Some(size) => source.open_blob(digest, size),
    };
    let reader = match opened {
        Ok(reader) => reader,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(finding(subject, "is missing from the store"));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(bytes) = read_limited(reader, limit)? else {
        return Err(finding(subject, format!("is larger than {limit} bytes: refused")));
    };
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(finding(subject, format!("bytes hash to {actual} ({} bytes)", bytes.len())));
    }
    Ok(bytes)
}

/// Reads and checks the manifest and config of the bundle `digest`.
pub fn open_bundle(source: &dyn BlobSource, digest: &Digest) -> Result<Opened, OpenError> {
    let manifest_bytes = read_checked(source, "manifest", digest, MANIFEST_LIMIT, None)?;
    let subject = format!("manifest {digest}");
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| finding(subject.clone(), format!("is not an OCI image manifest: {e}")))?;
    if !manifest.is_bundle() {
        return Err(finding(
            subject,
            format!(
                "is not a baton bundle (artifactType {:?}, config media type {}): baton reads only its own bundles",
                manifest.artifact_type, manifest.config.media_type
            ),
        ));
    }
    if manifest.layers.len() != 1
        || manifest.layers[0].media_type != baton_model::oci::LAYER_MEDIA_TYPE
    {
        return Err(finding(
            subject,
            "must have exactly one layer of type application/vnd.baton.bundle.layer.v1.tar+gzip",
        ));
    }
    let config_digest = &manifest.config.digest;
    let config_bytes =
        read_checked(source, "config", config_digest, CONFIG_LIMIT, Some(manifest.config.size))?;
    if config_bytes.len() as u64 != manifest.config.size {
        return Err(finding(
            format!("config {config_digest}"),
            format!("is {} bytes, the manifest says {}", config_bytes.len(), manifest.config.size),
        ));
    }
    let config: BundleConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
        finding(format!("config {config_digest}"), format!("is not a baton bundle config: {e}"))
    })?;
    Ok(Opened { digest: digest.clone(), manifest, manifest_bytes, config, config_bytes })
}

/// Re-hashes everything of the bundle `digest`: manifest, config, layer and every file against
/// the config's index. Returns the opened bundle (when manifest and config are sound) and every finding.
pub fn verify_bundle(
    source: &dyn BlobSource,
    digest: &Digest,
    limits: Limits,
) -> io::Result<(Option<Opened>, Vec<Finding>)> {
    let opened = match open_bundle(source, digest) {
        Ok(opened) => opened,
        Err(OpenError::Findings(findings)) => return Ok((None, findings)),
        Err(OpenError::Io(e)) => return Err(e),
    };
    let layer = opened.layer();
    let reader = match source.open_blob(&layer.digest, layer.size) {
        Ok(reader) => reader,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let missing = Finding {
                subject: format!("layer {}", layer.digest),
                problem: "is missing from the store".into(),
            };
            return Ok((Some(opened), vec![missing]));
        }
        Err(e) => return Err(e),
    };
    let findings = verify_layer(reader, layer, &opened.config, limits)?;
    Ok((Some(opened), findings))
}
