//! Fetch, verify, unpack, render: the one path from a pin to a rendered tree on disk, shared by
//! `apply` (into the target's releases) and `plan` (into a scratch directory).

use std::path::Path;

use baton_bundle::{Limits, Opened, UnpackError, open_bundle, unpack};
use baton_model::BundleName;
use baton_store::{LayoutStore, Store, copy};
use baton_target::{SecretFiles, TargetKey, Tree, tree_of_release};
use baton_view::ensure_in_store;

use crate::{
    ApplyError, ApplyOptions,
    job::Job,
    render::{RenderContext, Resolved, SecretsDir, render_tree, resolve},
};

/// Whether rendering may make the target's key (apply) or only read it (plan).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUse {
    Make,
    ReadOnly,
    /// A key of the moment: the hashes are shown to nobody (`baton render`).
    Throwaway,
}

/// Whether secrets are read (apply, plan, `render --with-secrets`) or stand as placeholders.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    Resolve,
    Placeholders,
}

/// A bundle fetched, verified, unpacked and rendered into a staging directory.
pub(crate) struct Staged {
    pub(crate) opened: Opened,
    pub(crate) resolved: Resolved,
    /// The params file's digest, as checked against the bundle's schema.
    pub(crate) params_digest: baton_model::Digest,
    pub(crate) staging: tempfile::TempDir,
    /// The rendered tree, from the verified index with only the rendered files hashed.
    pub(crate) files: Tree,
    /// The rendered files that read a secret, and the key they are hashed under.
    pub(crate) secret: SecretFiles,
    /// The files that are templates, rendered.
    pub(crate) rendered: Vec<String>,
}

/// Fetches and unpacks the pinned bundle into a staging directory under `under`, and renders it.
pub(crate) fn fetch_and_render(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    under: &Path,
    key_use: KeyUse,
    secrets: Secrets,
) -> Result<Staged, ApplyError> {
    let (opened, resolved, params_digest, staging) =
        fetch_and_unpack(job, options, under, secrets)?;
    let context = RenderContext {
        env: &job.env.name,
        config: &opened.config,
        digest: &job.pin.digest,
        resolved: &resolved,
        limits: job.env.render_limits,
    };
    let rendered = render_tree(staging.path(), &context)?;
    let secret = if rendered.secret.is_empty() {
        SecretFiles::none()
    } else {
        let key = match key_use {
            KeyUse::Make => job.home.key()?,
            KeyUse::ReadOnly => match job.home.existing_key()? {
                Some(key) => key,
                None => TargetKey::random()?,
            },
            KeyUse::Throwaway => TargetKey::random()?,
        };
        SecretFiles::new(key, rendered.secret)
    };
    let files = tree_of_release(staging.path(), &opened.config.files, &rendered.paths, &secret)?;
    Ok(Staged { opened, resolved, params_digest, staging, files, secret, rendered: rendered.paths })
}

type Unpacked = (Opened, Resolved, baton_model::Digest, tempfile::TempDir);

/// Copies the bundle into the cache, opens it, checks and resolves params, unpacks the layer
/// (verified) into a staging directory under `releases`. A cached blob that fails verification
/// is removed and fetched again, once.
fn fetch_and_unpack(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    releases: &Path,
    secrets: Secrets,
) -> Result<Unpacked, ApplyError> {
    let store = job.view.open_store(&job.env, options.registry)?;
    let cache = Store::Layout(LayoutStore::new(options.cache.clone()));
    let digest = &job.pin.digest;
    for attempt in 0..2 {
        ensure_in_store(&store, &job.pin.bundle, digest)?;
        copy(&store, &job.pin.bundle, digest, &cache, None, options.progress)?;
        let blobs = cache.blobs(&job.pin.bundle);
        let opened = match open_bundle(blobs.as_ref(), digest) {
            Ok(opened) => opened,
            Err(baton_bundle::OpenError::Findings(findings)) if attempt == 0 => {
                tracing::warn!(bundle = %job.pin.bundle, %digest, ?findings, "cached bundle is damaged; fetching it again");
                forget(&options.cache, &job.pin.bundle);
                continue;
            }
            Err(baton_bundle::OpenError::Findings(findings)) => {
                return Err(ApplyError::Verification {
                    bundle: job.pin.bundle.clone(),
                    digest: digest.clone(),
                    store: store.label(),
                    findings,
                });
            }
            Err(baton_bundle::OpenError::Io(e)) => return Err(e.into()),
        };
        let params = job.params(&opened.config)?;
        let secrets_dir = SecretsDir {
            declared: job.env.secrets_dir.as_deref(),
            given: options.secrets_dir.as_deref(),
            placeholders: secrets == Secrets::Placeholders,
        };
        let resolved =
            resolve(&params.values, &opened.config, &params.path, options.lookup, secrets_dir)?;
        // The staging directory becomes the release: unpack fills it (through a directory of
        // its own beside it, renamed into place once every byte verified).
        let staging = baton_fs::temp_dir_in(releases, ".staging-")?;
        let layer = blobs.open_blob(&opened.layer().digest, opened.layer().size)?;
        match unpack(layer, opened.layer(), &opened.config, staging.path(), Limits::STANDARD) {
            Ok(()) => return Ok((opened, resolved, params.digest, staging)),
            Err(UnpackError::Verification { findings }) if attempt == 0 => {
                tracing::warn!(bundle = %job.pin.bundle, %digest, ?findings, "cached layer is damaged; fetching it again");
                forget(&options.cache, &job.pin.bundle);
            }
            Err(UnpackError::Verification { findings }) => {
                return Err(ApplyError::Verification {
                    bundle: job.pin.bundle.clone(),
                    digest: digest.clone(),
                    store: store.label(),
                    findings,
                });
            }
            Err(UnpackError::Destination { path, reason }) => {
                return Err(baton_target::TargetError::Write {
                    path,
                    source: std::io::Error::other(reason),
                }
                .into());
            }
            Err(UnpackError::Io(e)) => return Err(e.into()),
        }
    }
    unreachable!("the second attempt returns")
}

/// Drops a bundle's cached blobs so the next copy fetches them again.
fn forget(cache: &Path, bundle: &BundleName) {
    let _ = fs_err::remove_dir_all(cache.join(bundle.as_str()));
}

/// The resolved parameters of the pinned bundle without fetching its layer: its config from
/// the cache (copied there first when it is missing), the params the pin was promoted with.
/// For a release swapped back, whose checks' output must be masked like any other.
pub(crate) fn resolve_cached(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
) -> Result<Resolved, ApplyError> {
    let cache = Store::Layout(LayoutStore::new(options.cache.clone()));
    let (bundle, digest) = (&job.pin.bundle, &job.pin.digest);
    let config = if let Ok(config) = baton_view::load_config(&cache, bundle, digest) {
        config
    } else {
        let store = job.view.open_store(&job.env, options.registry)?;
        copy(&store, bundle, digest, &cache, None, options.progress)?;
        baton_view::load_config(&cache, bundle, digest)?
    };
    let params = job.params(&config)?;
    let secrets_dir = SecretsDir {
        declared: job.env.secrets_dir.as_deref(),
        given: options.secrets_dir.as_deref(),
        placeholders: false,
    };
    resolve(&params.values, &config, &params.path, options.lookup, secrets_dir)
}
