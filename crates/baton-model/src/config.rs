//! The bundle config (`application/vnd.baton.bundle.config.v1+json`): what a bundle is, how its
//! layer was made and the index of every file in it. From format 2 on it holds only what follows
//! from the descriptor's files and `bundle.toml`, so the same files give the same digest at any
//! commit and on any machine; where a bundle came from is attested beside it, not inside it.

use serde::{Deserialize, Serialize};

use crate::{BundleName, Digest, ParamSchema, Version};

/// The config blob of a bundle. Serialised with fields in declaration order, so the same values
/// always give the same bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "baton bundle config",
    description = "The config blob of a baton bundle (application/vnd.baton.bundle.config.v1+json)."
)]
pub struct BundleConfig {
    /// The format of this config: 2 for bundles whose digest is their content alone; absent in
    /// format 1, which recorded `created` and `source`.
    #[serde(default = "format_one")]
    pub format: u32,
    /// The bundle's name.
    pub name: BundleName,
    /// The bundle's version.
    pub version: Version,
    /// One line for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Format 1 only: when the bundle was made (RFC 3339). Never written from format 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The parameter schema from `bundle.toml`.
    pub params: ParamSchema,
    /// Globs of the files rendered at apply time.
    pub render: Vec<String>,
    /// Format 1 only: where the descriptor came from. Never written from format 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// How the layer was made.
    pub layer: LayerInfo,
    /// Every entry of the layer, sorted by path.
    pub files: Vec<FileEntry>,
}

/// Provenance of a descriptor inside a git work tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The URL of remote `origin`, credentials removed; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The commit `HEAD` pointed to.
    pub commit: String,
    /// The git tree of the descriptor directory at that commit.
    pub tree: String,
    /// The descriptor directory relative to the repository root (`.` for the root).
    pub path: String,
    /// False when the descriptor's files differed from the commit (built with `--allow-dirty`).
    pub clean: bool,
}

/// How the layer was packed and compressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerInfo {
    /// Digest of the uncompressed tar.
    pub tar_digest: Digest,
    /// Size of the uncompressed tar in bytes.
    pub tar_size: u64,
    /// The compressor that produced the gzip stream.
    pub compressor: Compressor,
}

/// The pinned compressor: the same input gives the same gzip bytes only with the same one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compressor {
    /// The deflate implementation.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The compression level.
    pub level: u32,
    /// Input bytes per independently compressed block.
    pub block_size: u64,
}

/// What kind of entry a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A symbolic link that stays inside the bundle.
    Symlink,
}

/// One entry of the layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the bundle root, `/`-separated.
    pub path: String,
    /// File or symlink.
    pub kind: FileKind,
    /// Normalised mode in octal: `0644`, `0755` (executable) or `0777` (symlink).
    pub mode: String,
    /// Size in bytes (0 for a symlink).
    pub size: u64,
    /// Digest of the content (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// Link target (symlinks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Configs written before the format was recorded.
fn format_one() -> u32 {
    1
}

impl BundleConfig {
    /// The format baton writes.
    pub const FORMAT: u32 = 2;

    /// The canonical JSON bytes of this config.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("holds because every field serialises to JSON")
    }
}
