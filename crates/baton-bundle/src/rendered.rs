//! An environment's rendering as an artifact Flux and Argo CD consume: what each of them accepts
//! (`lint`), the layer (`pack`: one deterministic gzip tar of regular files and directories), and
//! the config and manifest around it (`artifact`). The same rendered tree gives the same bytes,
//! so the same bundle and params give the same artifact digest on any machine.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{self, Write},
    path::Path,
};

use baton_model::{BundleName, Digest, DigestWriter, EnvName, FileEntry, FileKind, Version, oci};
use serde::{Deserialize, Serialize};

use crate::{build::pack_file, gzip::ParallelGzWriter, tarball::TarWriter};

/// The `created` annotation of every rendered artifact: fixed, so the bytes depend on the
/// rendering alone (`flux push artifact --reproducible` writes the same).
pub const CREATED: &str = "1970-01-01T00:00:00Z";

/// Argo CD's default limit on what an OCI source extracts to: `1G`, a Kubernetes quantity,
/// so 10^9 bytes.
pub const ARGOCD_EXTRACT_LIMIT: u64 = 1_000_000_000;

/// A tool that consumes a rendered artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Consumer {
    /// Flux's source-controller (`OCIRepository`).
    Flux,
    /// Argo CD's repo-server (an OCI `source`).
    Argocd,
}

impl std::fmt::Display for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Consumer::Flux => "Flux",
            Consumer::Argocd => "Argo CD",
        })
    }
}

/// Something of a rendered tree a consumer would not take as it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// Who would not take it.
    pub consumer: Consumer,
    /// The path, relative to the tree (empty for the tree as a whole).
    pub path: String,
    /// What it would do with it, and what to change.
    pub problem: String,
}

/// What Flux's source-controller drops from every artifact it stores (its default exclusions,
/// `.sourceignore` syntax): directories, then file names, matched at any depth.
const FLUX_IGNORED_DIRS: &[&str] = &[".git", ".github", ".circleci"];
const FLUX_IGNORED_FILES: &[&str] = &[
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-*.yml",
    ".goreleaser.yml",
    ".sops.yaml",
    ".flux.yaml",
];

/// Every problem `consumers` would have with the tree at `root` whose entries are `entries`
/// (path and kind, as a bundle's index lists them).
pub fn lint<'a>(
    root: &Path,
    entries: impl IntoIterator<Item = (&'a str, FileKind)>,
    consumers: &[Consumer],
) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let names = flux_ignored();
    let mut total = 0u64;
    for (path, kind) in entries {
        let size = match kind {
            FileKind::File => fs_err::metadata(root.join(path))?.len(),
            FileKind::Symlink => 0,
        };
        total += size;
        for &consumer in consumers {
            let mut problem = |text: String| {
                problems.push(Problem { consumer, path: path.to_owned(), problem: text });
            };
            match consumer {
                Consumer::Flux => {
                    if kind == FileKind::Symlink {
                        problem("a symbolic link: Flux skips links when it extracts a layer; make it a file (a rendered artifact holds regular files only)".into());
                    }
                    if path.contains('\\') {
                        problem("Flux refuses a path with a backslash; rename it".into());
                    }
                    if let Some(rule) = flux_rule(&names, path) {
                        problem(format!(
                            "Flux's default exclusions (`{rule}`) drop it from what it stores; rename it or leave it out of the bundle"
                        ));
                    }
                }
                Consumer::Argocd => {
                    if kind == FileKind::Symlink {
                        problem("a symbolic link: a rendered artifact holds regular files only (Argo CD follows links inside the tree, Flux skips them); make it a file".into());
                    }
                }
            }
        }
    }
    if consumers.contains(&Consumer::Argocd) && total > ARGOCD_EXTRACT_LIMIT {
        problems.push(Problem {
            consumer: Consumer::Argocd,
            path: String::new(),
            problem: format!(
                "the tree is {total} bytes, over the {ARGOCD_EXTRACT_LIMIT} Argo CD extracts by default (`--oci-manifest-max-extracted-size`)"
            ),
        });
    }
    Ok(problems)
}

/// Flux's default file-name exclusions as globs.
fn flux_ignored() -> Vec<(globset::GlobMatcher, &'static str)> {
    FLUX_IGNORED_FILES
        .iter()
        .map(|rule| {
            let glob = globset::Glob::new(rule).expect("holds because the rules are valid globs");
            (glob.compile_matcher(), *rule)
        })
        .collect()
}

/// The first of Flux's default exclusions that drops `path`.
fn flux_rule(names: &[(globset::GlobMatcher, &'static str)], path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop()?;
    if let Some(dir) = parts.iter().find(|p| FLUX_IGNORED_DIRS.contains(p)) {
        return Some(format!("{dir}/"));
    }
    names.iter().find(|(glob, _)| glob.is_match(name)).map(|(_, rule)| (*rule).to_owned())
}

/// What [`pack`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packed {
    /// The gzip stream's digest and size: the layer.
    pub layer: oci::Descriptor,
    /// The uncompressed tar's digest.
    pub tar_digest: Digest,
    /// The uncompressed tar's size.
    pub tar_size: u64,
}

/// Writes the regular files of `files` below `root` (with a directory entry before each
/// directory's first file) as one gzip tar into `out`: path order, mtime 0, uid and gid 0, modes
/// 0644, 0755 for what the index marks executable and for directories. `files` must hold no
/// symbolic link ([`lint`] says so first).
pub fn pack<W: Write>(root: &Path, files: &[FileEntry], out: W) -> io::Result<(Packed, W)> {
    // The bytes do not depend on the number of threads (gzip.rs), so all of them may work.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let gz = ParallelGzWriter::new(DigestWriter::new(out), threads)?;
    let mut tar = TarWriter::new(DigestWriter::new(gz), 0);
    let mut buffer = vec![0; 256 * 1024];
    let mut directories = BTreeSet::new();
    for file in files {
        if file.kind != FileKind::File {
            return Err(io::Error::other(format!(
                "`{}` is a symbolic link: a rendered artifact holds regular files only",
                file.path
            )));
        }
        let mut ancestor = String::new();
        for part in file.path.split('/').collect::<Vec<_>>().split_last().map_or(&[][..], |p| p.1) {
            if !ancestor.is_empty() {
                ancestor.push('/');
            }
            ancestor.push_str(part);
            if directories.insert(ancestor.clone()) {
                tar.directory(&ancestor)?;
            }
        }
        let full = root.join(&file.path);
        let size = fs_err::metadata(&full)?.len();
        pack_file(&mut tar, &full, &file.path, file.mode == "0755", size, &mut buffer)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let (tar_digest, tar_size, gz) = tar.finish()?.finish();
    let (digest, size, out) = gz.finish()?.finish();
    let layer = oci::Descriptor::new(oci::TAR_GZIP_MEDIA_TYPE, digest, size);
    Ok((Packed { layer, tar_digest, tar_size }, out))
}

/// The config of a rendered artifact: what was rendered, where, with what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderedConfig {
    /// Always 1.
    pub format: u32,
    /// The bundle rendered.
    pub bundle: RenderedBundle,
    /// The environment it was rendered for.
    pub environment: EnvName,
    /// The digest of the params file it was rendered with.
    pub params_digest: Digest,
    /// The uncompressed tar's digest.
    pub tar_digest: Digest,
    /// The uncompressed tar's size.
    pub tar_size: u64,
}

/// The bundle a rendered artifact was rendered from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderedBundle {
    /// Its name.
    pub name: BundleName,
    /// Its version.
    pub version: Version,
    /// Its manifest digest (also the artifact's `subject`).
    pub digest: Digest,
}

/// The config and manifest bytes of a rendered artifact: `layer` as its only layer, `subject` the
/// bundle's manifest, `source` the `org.opencontainers.image.source` annotation.
pub fn artifact(
    config: &RenderedConfig,
    layer: &oci::Descriptor,
    subject: &oci::Descriptor,
    source: &str,
) -> (Vec<u8>, Vec<u8>) {
    let mut config_bytes =
        serde_json::to_vec_pretty(config).expect("holds because a config serialises");
    config_bytes.push(b'\n');
    let bundle = &config.bundle;
    let mut layer = layer.clone();
    layer.annotations.insert(
        "org.opencontainers.image.title".into(),
        format!("{}-{}.tar.gz", bundle.name, config.environment),
    );
    let annotations = BTreeMap::from([
        ("org.opencontainers.image.created".to_owned(), CREATED.to_owned()),
        ("org.opencontainers.image.source".to_owned(), source.to_owned()),
        (
            "org.opencontainers.image.revision".to_owned(),
            format!("{}@{}", bundle.version, bundle.digest),
        ),
        ("org.opencontainers.image.title".to_owned(), bundle.name.to_string()),
        (
            "org.opencontainers.image.description".to_owned(),
            format!("{} {} rendered for {}", bundle.name, bundle.version, config.environment),
        ),
        ("dev.baton.environment".to_owned(), config.environment.to_string()),
        ("dev.baton.params.digest".to_owned(), config.params_digest.to_string()),
    ]);
    let manifest = oci::Manifest {
        schema_version: 2,
        media_type: oci::MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: Some(oci::RENDERED_ARTIFACT_TYPE.to_owned()),
        config: oci::Descriptor::new(
            oci::RENDERED_CONFIG_MEDIA_TYPE,
            Digest::of(&config_bytes),
            config_bytes.len() as u64,
        ),
        layers: vec![layer],
        subject: Some(subject.clone()),
        annotations,
    };
    (config_bytes, manifest.to_bytes())
}
