//! The typed documents of the read-only bundle commands (`list`, `inspect`, `verify`,
//! `unpack`), so that their `--output json` has a schema like every other command's.

use std::path::PathBuf;

use baton_model::{BundleConfig, Digest, oci};
use serde::{Deserialize, Serialize};

/// One manifest in a store (`baton bundle list --output json` prints an array of them).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListedBundle {
    /// The bundle name (the repository).
    pub name: String,
    /// The tag, when it has one.
    pub tag: Option<String>,
    /// `org.opencontainers.image.version`.
    pub version: String,
    /// The manifest digest.
    pub digest: Digest,
    /// `STORE/NAME@DIGEST`.
    pub reference: String,
    /// Manifest, config and layer bytes.
    pub size: u64,
    /// `org.opencontainers.image.created`: bundles of format 1 only (format 2 records no time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Whether the manifest is a baton bundle's.
    pub bundle: bool,
}

/// `baton bundle inspect --output json`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InspectReport {
    /// `STORE/NAME@DIGEST`.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// Manifest, config and layer bytes.
    pub size: u64,
    /// The manifest.
    pub manifest: oci::Manifest,
    /// The config.
    pub config: BundleConfig,
}

/// One problem verification found.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyFinding {
    /// What is concerned: a blob, the index, a file.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

/// `baton bundle verify --output json` (and any bundle command that found damage, exit 4).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyReport {
    /// `STORE/NAME@DIGEST`.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// True when nothing was found.
    pub ok: bool,
    /// Files re-hashed, when the config could be read.
    pub files: Option<usize>,
    /// Every problem.
    pub findings: Vec<VerifyFinding>,
    /// The signatures attached to the bundle, each checked against the keys given (`--key`).
    #[serde(default)]
    pub signatures: Vec<crate::SignatureCheck>,
}

/// `baton bundle unpack --output json`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnpackReport {
    /// `STORE/NAME@DIGEST`.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The directory written.
    pub into: PathBuf,
    /// Files written.
    pub files: usize,
}
