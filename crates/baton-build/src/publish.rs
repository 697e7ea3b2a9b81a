//! `publish`: an environment's rendering of a bundle as an OCI artifact Flux and Argo CD consume,
//! in the environment's store: one standard `tar+gzip` layer of the rendered tree (regular
//! files and directories), a config naming the bundle, environment and params, the bundle as its
//! `subject`, fixed `created`; the same bundle and params give the same digest. Secrets are
//! never resolved here: a rendering that reads one is refused, since anyone who may pull from the
//! store would read it.

use std::path::Path;

use baton_bundle::{
    Limits, open_bundle,
    rendered::{self, Consumer, Problem, RenderedBundle, RenderedConfig},
    template::{self, Renderer, TreeError, Values},
    unpack,
};
use baton_model::{BundleName, Digest, EnvName, Environment, ParamValues, oci};
use baton_store::{LayoutStore, Progress, Store, StoreError, copy_untagged, referrers};
use serde::{Deserialize, Serialize};

/// What a publish wrote.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Published {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The bundle's digest (the artifact's `subject`).
    pub subject: Digest,
    /// The artifact's manifest digest: what a Flux `OCIRepository` or an Argo CD `Application`
    /// pins (`ref.digest`, `targetRevision`).
    pub digest: Digest,
    /// The store it is in.
    pub store: String,
    /// The tag it was given (the environment's name), when it was tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The layer: its digest and size.
    pub layer: oci::Descriptor,
    /// How many files it holds.
    pub files: usize,
}

/// Why a rendering was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A consumer would not take the tree as it is.
    #[error(
        "the rendering of `{bundle}` for `{env}` cannot be published as Flux and Argo CD take it:\n{}",
        problems.iter().map(|p| format!("  - {} ({}): {}", if p.path.is_empty() { "the tree" } else { &p.path }, p.consumer, p.problem)).collect::<Vec<_>>().join("\n")
    )]
    Refused {
        /// The bundle.
        bundle: BundleName,
        /// The environment.
        env: EnvName,
        /// What each consumer would do.
        problems: Vec<Problem>,
    },
    /// The rendering reads a secret.
    #[error(
        "the rendering of `{bundle}` for `{env}` reads a secret parameter in {}: a published artifact is read by anyone who may pull from `{store}`, so baton never publishes one; keep secrets out of the rendered tree (a Kubernetes Secret from External Secrets or SOPS, referenced by name) or leave `publish` off for `{env}`",
        files.join(", ")
    )]
    Secret {
        /// The bundle.
        bundle: BundleName,
        /// The environment.
        env: EnvName,
        /// The files that read one.
        files: Vec<String>,
        /// The store published to.
        store: String,
    },
    /// A template did not render.
    #[error("the rendering of `{bundle}` for `{env}` failed: {file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Render {
        /// The bundle.
        bundle: BundleName,
        /// The environment.
        env: EnvName,
        /// The template.
        file: String,
        /// Its line.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// The bundle does not open or unpack.
    #[error("`{bundle}` {digest} cannot be read from `{store}`: {reason}")]
    Bundle {
        /// The bundle.
        bundle: BundleName,
        /// Its digest.
        digest: Digest,
        /// The store read.
        store: String,
        /// What was found.
        reason: String,
    },
    /// A store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What to publish: a bundle in a store, for an environment, with its params.
pub struct PublishRequest<'a> {
    /// Where the bundle is read (the environment's store, or a cache of it).
    pub source: &'a Store,
    /// The bundle.
    pub bundle: &'a BundleName,
    /// Its digest.
    pub digest: &'a Digest,
    /// The environment rendered for.
    pub env: &'a Environment,
    /// Its params for the bundle (checked against the bundle's schema).
    pub values: &'a ParamValues,
    /// The params file's digest.
    pub params_digest: &'a Digest,
    /// Where the artifact goes (the environment's store).
    pub target: &'a Store,
    /// The tag to give it now, if any (a promotion tags after its commit).
    pub tag: Option<&'a str>,
    /// Transfer progress.
    pub progress: &'a Progress,
}

/// Renders the bundle for the environment (secrets as placeholders; a rendering that reads one
/// is refused), checks that Flux and Argo CD take the tree, and stores it as the environment's
/// rendered artifact, a referrer of the bundle.
pub fn publish(request: &PublishRequest<'_>) -> Result<Published, PublishError> {
    let (bundle, env) = (request.bundle, &request.env.name);
    let scratch = tempfile::tempdir()?;
    let blobs = request.source.blobs(bundle);
    let bad_bundle = |reason: String| PublishError::Bundle {
        bundle: bundle.clone(),
        digest: request.digest.clone(),
        store: request.source.label(),
        reason,
    };
    let opened =
        open_bundle(blobs.as_ref(), request.digest).map_err(|e| bad_bundle(e.to_string()))?;
    let config = &opened.config;
    let tree = scratch.path().join("tree");
    let layer = blobs.open_blob(&opened.layer().digest, opened.layer().size)?;
    unpack(layer, opened.layer(), config, &tree, Limits::STANDARD)
        .map_err(|e| bad_bundle(e.to_string()))?;
    let values = Values::with_placeholders(request.values, &config.params);
    let failed = |f: template::RenderFailure| PublishError::Render {
        bundle: bundle.clone(),
        env: env.clone(),
        file: f.file,
        line: f.line,
        message: f.message,
    };
    let mut templates =
        Renderer::new(config, request.digest, env, &values, request.env.render_limits)
            .map_err(failed)?;
    let rendered =
        template::render_tree(&tree, config, &mut templates, &|_| false).map_err(|e| match e {
            TreeError::Render(f) => failed(f),
            TreeError::Io(e) => e.into(),
        })?;
    if !rendered.secret.is_empty() {
        return Err(PublishError::Secret {
            bundle: bundle.clone(),
            env: env.clone(),
            files: rendered.secret.into_iter().collect(),
            store: request.target.label(),
        });
    }
    let entries = config.files.iter().map(|f| (f.path.as_str(), f.kind));
    let problems = rendered::lint(&tree, entries, &[Consumer::Flux, Consumer::Argocd])?;
    if !problems.is_empty() {
        return Err(PublishError::Refused { bundle: bundle.clone(), env: env.clone(), problems });
    }
    let subject = referrers::subject_of(request.source, bundle, request.digest)?;
    let meta = RenderedBundle {
        name: bundle.clone(),
        version: config.version.clone(),
        digest: request.digest.clone(),
    };
    store_tree(request, &tree, &config.files, meta, &subject, scratch.path())
}

/// Packs the tree into a layout (the target's own, or one under `scratch` for a registry), adds
/// config and manifest, copies it to the target, lists it among the bundle's referrers, and tags
/// it when asked.
fn store_tree(
    request: &PublishRequest<'_>,
    tree: &Path,
    files: &[baton_model::FileEntry],
    meta: RenderedBundle,
    subject: &oci::Descriptor,
    scratch: &Path,
) -> Result<Published, PublishError> {
    let bundle = request.bundle;
    let layout = match request.target {
        Store::Layout(layout) => layout.clone(),
        Store::Registry(_) => LayoutStore::new(scratch.join("layout")),
    };
    let writer = layout.blob_writer(bundle)?;
    let (packed, writer) = rendered::pack(tree, files, writer)?;
    let (layer_digest, _) = writer.commit()?;
    debug_assert_eq!(layer_digest, packed.layer.digest);
    let config = RenderedConfig {
        format: 1,
        bundle: meta,
        environment: request.env.name.clone(),
        params_digest: request.params_digest.clone(),
        tar_digest: packed.tar_digest.clone(),
        tar_size: packed.tar_size,
    };
    let source = source_of(request.env, bundle);
    let (config_bytes, manifest_bytes) =
        rendered::artifact(&config, &packed.layer, subject, &source);
    layout.put_blob(bundle, &config_bytes)?;
    let digest = layout.put_manifest(bundle, &manifest_bytes, None)?.digest;
    if let Store::Registry(_) = request.target {
        copy_untagged(&Store::Layout(layout), bundle, &digest, request.target, request.progress)?;
    }
    referrers::register_referrer(request.target, bundle, &subject.digest, &manifest_bytes)?;
    if let Some(tag) = request.tag {
        request.target.put_manifest(bundle, &manifest_bytes, Some(tag))?;
    }
    Ok(Published {
        bundle: bundle.clone(),
        environment: request.env.name.clone(),
        subject: subject.digest.clone(),
        digest,
        store: request.target.label(),
        tag: request.tag.map(str::to_owned),
        layer: packed.layer,
        files: files.len(),
    })
}

/// The `org.opencontainers.image.source` of a rendered artifact: the bundle in the environment's
/// store as baton.toml names it (`oci://HOST/PATH/NAME`, or `oci:PATH/NAME` for a layout), the
/// same from every machine that reads the same baton.toml.
fn source_of(env: &Environment, bundle: &BundleName) -> String {
    match &env.store {
        baton_model::StoreLocation::Layout(_) => format!("{}/{bundle}", env.store),
        baton_model::StoreLocation::Registry { .. } => format!("oci://{}/{bundle}", env.store),
    }
}
