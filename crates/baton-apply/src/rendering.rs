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

/// The job of the pin of `bundle` in `env` as the judge admits it, with no target: its home is
/// `scratch`, which only a throwaway key would ever be kept in.
fn admitted_job<'v>(
    view: &'v View,
    env: &str,
    bundle: &BundleName,
    scratch: &Path,
    options: &ApplyOptions<'_>,
) -> Result<Job<'v>, ApplyError> {
    let env = view.environment(env)?.clone();
    let (pin, pin_commit) = admitted_pins(view, &env, Some(bundle), options)?
        .pop()
        .expect("holds: one bundle asked, one pin admitted or an error");
    let home = Home { path: scratch.to_owned(), linked: false };
    Ok(Job { view, env, pin, pin_commit, home, target_id: None })
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
    fs_err::create_dir_all(under)?;
    let job = admitted_job(view, env, bundle, under, options)?;
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
    let scratch = tempfile::tempdir()?;
    let job = admitted_job(view, env, bundle, scratch.path(), options)?;
    publish_job(&job, options)
}

/// Where `job`'s environment publishes and its pin records no rendering (it was made before the
/// environment set `publish = true`), publishes the rendering now, so that what Flux and Argo CD
/// take by the environment's tag is what the target is about to get; else returns what the pin
/// records (the judge has checked it is there). Called before a target changes, so that a store
/// this machine may not push to leaves the target as it was.
pub(crate) fn publish_missing(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
) -> Result<Option<Digest>, ApplyError> {
    if !job.env.publish || job.pin.published.is_some() {
        return Ok(job.pin.published.clone());
    }
    tracing::info!(env = %job.env.name, bundle = %job.pin.bundle, "the environment publishes and the pin records no rendering: publishing it before applying");
    publish_job(job, options).map(|published| Some(published.digest)).map_err(|e| {
        let (env, bundle) = (&job.env.name, &job.pin.bundle);
        // A store that refused the push is this machine's rights; anything else is the
        // rendering's, and publishing from elsewhere would meet it again.
        let next = if matches!(e, ApplyError::Publish(baton_build::PublishError::Store(_))) {
            format!("run `baton publish {env} {bundle}` from a machine that may push to the environment's store, then apply again")
        } else {
            format!("mend what is named below (or leave `publish` off for `{env}`), then apply again")
        };
        ApplyError::PublishBeforeApply {
            env: env.clone(),
            bundle: bundle.clone(),
            next,
            source: Box::new(e),
        }
    })
}

/// Publishes the rendering of `job`'s pin into its environment's store, tagged with the
/// environment's name.
fn publish_job(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
) -> Result<baton_build::Published, ApplyError> {
    let bundle = &job.pin.bundle;
    let store = job.view.open_store(&job.env, options.registry)?;
    baton_view::ensure_in_store(&store, bundle, &job.pin.digest)?;
    let config = baton_view::load_config(&store, bundle, &job.pin.digest)?;
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

/// Copies one YAML document from `file` to `out` as it streams: a `---` first unless the file
/// starts with one, a line end last unless it ends with one.
fn copy_document(mut file: impl std::io::Read, out: &mut dyn Write) -> std::io::Result<()> {
    let mut buffer = vec![0; 64 << 10];
    let mut first = true;
    let mut last = b'\n';
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        if first {
            // A file whose first read is shorter than `---` is too short to start with it.
            if !buffer[..n].starts_with(b"---") {
                writeln!(out, "---")?;
            }
            first = false;
        }
        out.write_all(&buffer[..n])?;
        last = buffer[n - 1];
    }
    if first {
        writeln!(out, "---")?;
    }
    if last != b'\n' {
        writeln!(out)?;
    }
    Ok(())
}

impl Rendering {
    /// What `consumers` would not take in the tree as it is.
    pub fn lint(
        &self,
        consumers: &[baton_bundle::rendered::Consumer],
    ) -> Result<Vec<baton_bundle::rendered::Problem>, ApplyError> {
        let entries = self.report.files.iter().map(|f| (f.path.as_str(), f.kind));
        Ok(baton_bundle::rendered::lint(self.staging.path(), entries, consumers)?)
    }

    /// The staging directory holding the tree.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Moves the tree to `into`, which must not exist or be an empty directory, by one rename
    /// once every file is on disk.
    pub fn persist(self, into: &Path) -> Result<RenderReport, ApplyError> {
        if let Some(reason) = baton_fs::unfit_destination(into)? {
            let source = std::io::Error::other(reason);
            return Err(baton_target::TargetError::Write { path: into.to_owned(), source }.into());
        }
        baton_fs::place_tree(self.staging, into)?;
        Ok(RenderReport { into: Some(into.display().to_string()), ..self.report })
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
            let file = baton_fs::open_beneath(
                self.staging.path(),
                Path::new(&entry.path),
                baton_fs::Links::Never,
            )?;
            writeln!(out, "# Source: {}", entry.path)?;
            copy_document(file, out).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot stream `{}`: {e}", entry.path))
            })?;
        }
        out.flush()?;
        Ok(skipped)
    }
}
