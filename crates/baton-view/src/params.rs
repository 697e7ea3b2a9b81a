//! A bundle's parameters in an environment, read and checked once: the promoter records their
//! digest in the pin, the applier renders with them, the auditor re-hashes them.

use baton_bundle::open_bundle;
use baton_model::{BundleConfig, BundleName, Digest, EnvName, ParamValues, Selector};
use baton_state::Snapshot;
use baton_store::{Store, StoreError};

use crate::{View, ViewError, view::params_path};

/// The params file of a bundle in an environment, parsed and checked against the bundle's
/// schema, with the digest of its bytes.
#[derive(Clone, Debug)]
pub struct CheckedParams {
    /// The file, relative to the state repository.
    pub path: String,
    /// Its values (secrets as references, never resolved here).
    pub values: ParamValues,
    /// sha256 of its bytes (of no bytes when there is no file).
    pub digest: Digest,
}

/// sha256 of a params file's bytes; of no bytes when there is none.
pub fn params_digest(bytes: Option<&[u8]>) -> Digest {
    Digest::of(bytes.unwrap_or_default())
}

impl View {
    /// Reads the params of `bundle` in `env` at the view and checks them against `config`.
    pub fn checked_params(
        &self,
        env: &EnvName,
        bundle: &BundleName,
        config: &BundleConfig,
    ) -> Result<CheckedParams, ViewError> {
        self.checked_params_at(&self.snapshot, env, bundle, config)
    }

    /// Reads the params of `bundle` in `env` as they stood at `snapshot` (the commit that made a
    /// pin, for the applier) and checks them against `config`.
    pub fn checked_params_at(
        &self,
        snapshot: &Snapshot,
        env: &EnvName,
        bundle: &BundleName,
        config: &BundleConfig,
    ) -> Result<CheckedParams, ViewError> {
        let path = params_path(env, bundle);
        let bytes = self.repo.read(snapshot, &path)?;
        let text = match &bytes {
            Some(b) => std::str::from_utf8(b)
                .map_err(|_| ViewError::NotUtf8 { file: path.clone().into() })?,
            None => "",
        };
        let values = ParamValues::from_toml(text).map_err(|source| ViewError::BadFile {
            file: path.clone().into(),
            written_by_baton: false,
            source: Box::new(source),
        })?;
        let secrets_dir = self.pipeline.environment(env).and_then(|e| e.secrets_dir.as_deref());
        let violations = values.check(&config.params, secrets_dir);
        if !violations.is_empty() {
            return Err(ViewError::Params {
                file: path.into(),
                bundle: bundle.clone(),
                env: env.clone(),
                violations,
            });
        }
        Ok(CheckedParams { path, values, digest: params_digest(bytes.as_deref()) })
    }
}

/// Fails with `NotInStore` (naming the store and how to list it) unless `store` holds `digest`
/// of `bundle`.
pub fn ensure_in_store(
    store: &Store,
    bundle: &BundleName,
    digest: &Digest,
) -> Result<(), ViewError> {
    store.resolve(bundle, &Selector::Digest(digest.clone())).map(|_| ()).map_err(|source| {
        match source {
            // Only an answer that the bundle is not there is "not in store"; a registry that could
            // not be asked is its own error.
            StoreError::UnknownDigest { .. }
            | StoreError::UnknownTag { .. }
            | StoreError::UnknownBundle { .. } => ViewError::NotInStore {
                bundle: bundle.clone(),
                digest: digest.clone(),
                store: store.label(),
                source: Box::new(source),
            },
            other => ViewError::Store(other),
        }
    })
}

/// Reads the bundle config of `digest` from `store` (manifest and config only, not the layer).
pub fn load_config(
    store: &Store,
    bundle: &BundleName,
    digest: &Digest,
) -> Result<BundleConfig, ViewError> {
    ensure_in_store(store, bundle, digest)?;
    let blobs = store.blobs(bundle);
    let opened = open_bundle(blobs.as_ref(), digest).map_err(|e| ViewError::BadBundle {
        bundle: bundle.clone(),
        digest: digest.clone(),
        store: store.label(),
        source: Box::new(e),
    })?;
    if opened.config.name != *bundle {
        return Err(ViewError::WrongBundle {
            bundle: bundle.clone(),
            found: opened.config.name,
            digest: digest.clone(),
            store: store.label(),
        });
    }
    Ok(opened.config)
}
