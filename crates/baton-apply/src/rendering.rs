//! `render`: the tree apply would hand to a target, for people and for other tools (kubectl,
//! kustomize, Flux, Argo CD). It takes apply's own path (the judge's admission, the params the
//! pin was promoted with, fetch, verify, unpack, render) into a staging directory, which is then
//! moved into place whole or streamed as YAML documents. Secrets stand as typed placeholders
//! unless they are asked for, and no target is needed or touched.

use std::{io::Write, path::Path};

use baton_model::{BundleName, Digest, EnvName, FileKind};
use baton_target::Home;
use baton_view::View;
use serde::{Deserialize, Serialize};

use crate::{
    ApplyError, ApplyOptions,
    fetch::{KeyUse, Secrets, Staged, fetch_and_render},
    job::{Job, admitted_pins},
};

/// What a rendering holds, as `baton render` reports it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RenderReport {
    /// The environment rendered for.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The digest pinned in the environment.
    pub digest: Digest,
    /// The digest of the params file the pin was promoted with, which the rendering used.
    pub params_digest: Digest,
    /// The commit that made the pin.
    pub pin_commit: String,
    /// True when secrets were resolved (`--with-secrets`); else each is its placeholder.
    pub secrets_resolved: bool,
    /// The secret parameters that rendered as placeholders (without `--with-secrets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<String>,
    /// Where the tree was written (`--into`), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Every entry of the tree, by path.
    pub files: Vec<RenderedEntry>,
    /// What the consumers `--check` named would not take as it is (exit 4 when any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<baton_bundle::rendered::Problem>,
}

/// One entry of a rendered tree.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RenderedEntry {
    /// The path, relative to the tree's root.
    pub path: String,
    /// A file or a symbolic link.
    pub kind: FileKind,
    /// True when the file is a template the rendering filled in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rendered: bool,
    /// True when its rendering read a secret (written 0600).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// A rendered tree in a staging directory, not yet anywhere a user looks.
pub struct Rendering {
    /// What it holds.
    pub report: RenderReport,
    staging: tempfile::TempDir,
}

/// Renders the bundle pinned in `env` (admitted by the judge, with the params it was promoted
/// with) into a staging directory under `under`, which must be on the file system the tree is
/// to be moved to. Secrets are read only when `with_secrets` is set.
pub fn render(
    view: &View,
    env: &str,
    bundle: &BundleName,
    under: &Path,
    with_secrets: bool,
    options: &ApplyOptions<'_>,
) -> Result<Rendering, ApplyError> {
    let environment = view.environment(env)?.clone();
    let (pin, pin_commit) = admitted_pins(view, &environment, Some(bundle), options)?
        .pop()
        .expect("holds: one bundle asked, one pin admitted or an error");
    fs_err::create_dir_all(under)?;
    let job = Job {
        view,
        env: environment,
        pin,
        pin_commit,
        home: Home { path: under.to_owned(), linked: false },
        target_id: None,
    };
    let secrets = if with_secrets { Secrets::Resolve } else { Secrets::Placeholders };
    let Staged { opened, params_digest, staging, secret, rendered, resolved, .. } =
        fetch_and_render(&job, options, under, KeyUse::Throwaway, secrets)?;
    let placeholders = if with_secrets {
        Vec::new()
    } else {
        let specs = opened.config.params.specs();
        let secret_spec = |name: &String| specs.get(name).is_some_and(|s| s.secret);
        resolved.values.params.keys().filter(|n| secret_spec(n)).cloned().collect()
    };
    let rendered: std::collections::BTreeSet<&str> = rendered.iter().map(String::as_str).collect();
    let entries = opened
        .config
        .files
        .iter()
        .map(|f| RenderedEntry {
            path: f.path.clone(),
            kind: f.kind,
            rendered: rendered.contains(f.path.as_str()),
            secret: secret.paths().contains(&f.path),
        })
        .collect();
    let report = RenderReport {
        environment: job.env.name.clone(),
        bundle: job.pin.bundle.clone(),
        digest: job.pin.digest.clone(),
        params_digest,
        pin_commit: job.pin_commit.to_string(),
        secrets_resolved: with_secrets,
        placeholders,
        into: None,
        files: entries,
        problems: Vec::new(),
    };
    Ok(Rendering { report, staging })
}

/// Publishes the rendering of the bundle pinned in `env` (admitted by the judge, with the params
/// it was promoted with) as the environment's artifact for Flux and Argo CD, in its store, tagged
/// with its name; secrets are never resolved, and a rendering that reads one is refused.
pub fn publish(
    view: &View,
    env: &str,
    bundle: &BundleName,
    options: &ApplyOptions<'_>,
) -> Result<baton_build::Published, ApplyError> {
    let environment = view.environment(env)?.clone();
    let (pin, pin_commit) = admitted_pins(view, &environment, Some(bundle), options)?
        .pop()
        .expect("holds: one bundle asked, one pin admitted or an error");
    let store = view.open_store(&environment, options.registry)?;
    baton_view::ensure_in_store(&store, bundle, &pin.digest)?;
    let config = baton_view::load_config(&store, bundle, &pin.digest)?;
    let scratch = tempfile::tempdir()?;
    let job = Job {
        view,
        env: environment,
        pin,
        pin_commit,
        home: Home { path: scratch.path().to_owned(), linked: false },
        target_id: None,
    };
    let params = job.params(&config)?;
    let tag = job.env.name.to_string();
    let published = baton_build::publish(&baton_build::PublishRequest {
        source: &store,
        bundle,
        digest: &job.pin.digest,
        env: &job.env,
        values: &params.values,
        params_digest: &params.digest,
        target: &store,
        tag: Some(&tag),
        progress: options.progress,
    })?;
    if let Some(recorded) = &job.pin.published
        && *recorded != published.digest
    {
        tracing::warn!(
            env = %job.env.name,
            %bundle,
            %recorded,
            published = %published.digest,
            "the pin records another published digest than this publish made: the same pin should give the same bytes; the tag now names the new one"
        );
    }
    Ok(published)
}

impl Rendering {
    /// What `consumers` would not take in the tree as it is.
    pub fn lint(
        &self,
        consumers: &[baton_bundle::rendered::Consumer],
    ) -> Result<Vec<baton_bundle::rendered::Problem>, ApplyError> {
        let files: Vec<baton_model::FileEntry> = self
            .report
            .files
            .iter()
            .map(|f| baton_model::FileEntry {
                path: f.path.clone(),
                kind: f.kind,
                mode: String::new(),
                size: 0,
                sha256: None,
                target: None,
            })
            .collect();
        Ok(baton_bundle::rendered::lint(self.staging.path(), &files, consumers)?)
    }

    /// The staging directory holding the tree.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Moves the tree to `into`, which must not exist or be an empty directory, by one rename
    /// once every file is on disk.
    pub fn persist(mut self, into: &Path) -> Result<RenderReport, ApplyError> {
        let refuse = |reason: &str| baton_target::TargetError::Write {
            path: into.to_owned(),
            source: std::io::Error::other(reason.to_owned()),
        };
        match fs_err::symlink_metadata(into) {
            Ok(meta) if meta.is_dir() => {
                if fs_err::read_dir(into)?.next().is_some() {
                    return Err(refuse(
                        "it is not empty: give a new or empty directory (baton render never mixes a tree into other files)",
                    )
                    .into());
                }
                fs_err::remove_dir(into)?;
            }
            Ok(_) => return Err(refuse("it exists and is not a directory").into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        rustix::fs::syncfs(fs_err::File::open(self.staging.path())?.file())
            .map_err(std::io::Error::from)?;
        let staged = self.staging.keep();
        if let Err(e) = fs_err::rename(&staged, into) {
            let _ = fs_err::remove_dir_all(&staged);
            return Err(e.into());
        }
        if let Some(parent) = into.parent().filter(|p| !p.as_os_str().is_empty()) {
            baton_fs::sync_dir(parent)?;
        }
        self.report.into = Some(into.display().to_string());
        Ok(self.report)
    }

    /// Writes the tree's YAML and JSON files (`.yaml`, `.yml`, `.json`; not a
    /// `kustomization.yaml`), in path order, as one stream of YAML documents, each after a `# Source: PATH` comment, as `kubectl apply -f -`
    /// and `kubectl diff -f -` read them; returns the paths of the files left out.
    pub fn stream(&self, out: &mut dyn Write) -> Result<Vec<String>, ApplyError> {
        let mut skipped = Vec::new();
        for entry in &self.report.files {
            let manifest = [".yaml", ".yml", ".json"].iter().any(|ext| entry.path.ends_with(ext));
            // kustomize's own file is no Kubernetes object: `kubectl diff -k DIR` reads it.
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            let kustomization =
                matches!(name, "kustomization.yaml" | "kustomization.yml" | "Kustomization");
            if entry.kind != FileKind::File || !manifest || kustomization {
                skipped.push(entry.path.clone());
                continue;
            }
            let mut file = baton_fs::open_beneath(
                self.staging.path(),
                Path::new(&entry.path),
                baton_fs::Links::Never,
            )?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut file, &mut text).map_err(|e| {
                baton_target::TargetError::Write {
                    path: self.staging.path().join(&entry.path),
                    source: e,
                }
            })?;
            writeln!(out, "# Source: {}", entry.path)?;
            if !text.starts_with("---") {
                writeln!(out, "---")?;
            }
            out.write_all(text.as_bytes())?;
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(out)?;
            }
        }
        out.flush()?;
        Ok(skipped)
    }
}
