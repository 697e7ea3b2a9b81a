//! The OCI documents baton writes and reads (image-spec 1.1): descriptors, manifests, indexes,
//! and the media types of a bundle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// `artifactType` of every bundle manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.baton.bundle.v1";
/// Media type of the bundle config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.baton.bundle.config.v1+json";
/// Media type of the bundle's one layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.baton.bundle.layer.v1.tar+gzip";
/// `artifactType` of an environment's rendering published for Flux and Argo CD (`publish`).
pub const RENDERED_ARTIFACT_TYPE: &str = "application/vnd.baton.rendered.v1";
/// The config media type of a rendered artifact.
pub const RENDERED_CONFIG_MEDIA_TYPE: &str = "application/vnd.baton.rendered.config.v1+json";
/// The standard layer media type, the one a rendered artifact's only layer has: Flux takes the
/// first layer whatever its type, and Argo CD's default allow-list holds this one.
pub const TAR_GZIP_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of the empty config of an artifact (`{}`).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Annotation carrying a tag in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Points at a blob or manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The artifact type of a manifest, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    pub media_type: String,
    /// [`ARTIFACT_TYPE`] for a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (an attestation's bundle): OCI 1.1 referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations (`org.opencontainers.image.*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index, as `index.json` of a layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`INDEX_MEDIA_TYPE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
}

impl Descriptor {
    /// A descriptor without annotations.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The tag this descriptor carries in an `index.json`.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

impl Manifest {
    /// The canonical JSON bytes of this manifest: these exact bytes are hashed and stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("holds because every field serialises to JSON")
    }

    /// True when this is a baton bundle manifest.
    pub fn is_bundle(&self) -> bool {
        self.artifact_type.as_deref() == Some(ARTIFACT_TYPE)
            && self.config.media_type == CONFIG_MEDIA_TYPE
    }
}

impl Index {
    /// An empty index.
    pub fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_owned()),
            manifests: Vec::new(),
        }
    }
}
