//! The one place the binary reads process environment variables (besides clap's `env` options).

use anyhow::{Context, Result};

/// `SOURCE_DATE_EPOCH`, when set: the time every bundle entry gets, in seconds since the epoch.
#[allow(clippy::disallowed_methods)]
pub(crate) fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => {
            text.trim().parse::<i64>().map(Some).with_context(|| {
                format!(
                    "SOURCE_DATE_EPOCH is `{text}`: it must be whole seconds since 1970-01-01 UTC"
                )
            })
        }
        _ => Ok(None),
    }
}

/// True when `NO_COLOR` is set to anything non-empty.
#[allow(clippy::disallowed_methods)]
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Where registry credentials are found, as the container tools look: `REGISTRY_AUTH_FILE`,
/// then `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; helpers on `PATH`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn registry_options(
    insecure: Vec<String>,
    chunked_uploads: bool,
) -> baton_store::RegistryOptions {
    let var =
        |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    let files = baton_store::auth::auth_files(
        var("REGISTRY_AUTH_FILE").as_deref(),
        var("DOCKER_CONFIG").as_deref(),
        var("HOME").as_deref(),
    );
    baton_store::RegistryOptions {
        auth: baton_store::auth::AuthConfig { files, helper_path: None },
        insecure,
        retries: 4,
        chunked_uploads,
    }
}
