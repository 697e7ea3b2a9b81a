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
/// then `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; helpers on `PATH`. CAs from
/// `--registry-ca` and the `certs.d` directories.
#[allow(clippy::disallowed_methods)]
pub(crate) fn registry_options(
    insecure: Vec<String>,
    ca_files: Vec<std::path::PathBuf>,
    chunked_uploads: bool,
    timeouts: baton_store::Timeouts,
) -> baton_store::RegistryOptions {
    let var =
        |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    let files = baton_store::auth::auth_files(
        var("REGISTRY_AUTH_FILE").as_deref(),
        var("DOCKER_CONFIG").as_deref(),
        var("HOME").as_deref(),
    );
    // certs.d as podman (rootless, then system) and docker keep them.
    let mut certs_dirs = Vec::new();
    if let Some(home) = var("HOME") {
        certs_dirs.push(home.join(".config/containers/certs.d"));
    }
    certs_dirs.push("/etc/containers/certs.d".into());
    certs_dirs.push("/etc/docker/certs.d".into());
    baton_store::RegistryOptions {
        auth: baton_store::auth::AuthConfig { files, helper_path: None },
        insecure,
        retries: 4,
        chunked_uploads,
        timeouts,
        trust: baton_store::Trust { ca_files, certs_dirs },
    }
}

/// The cache of fetched bundles: `$XDG_CACHE_HOME/baton`, else `~/.cache/baton`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn default_cache() -> std::path::PathBuf {
    xdg("XDG_CACHE_HOME", ".cache").join("baton")
}

/// The cache a command without `--cache` keeps its copies of state repositories given as URLs
/// in: `BATON_CACHE`, as `--cache` reads it, else the default cache.
#[allow(clippy::disallowed_methods)]
pub(crate) fn state_cache() -> std::path::PathBuf {
    std::env::var_os("BATON_CACHE")
        .filter(|v| !v.is_empty())
        .map_or_else(default_cache, std::path::PathBuf::from)
}

/// What baton adds to git's own settings for the state repository's remote: with
/// `BATON_GIT_TOKEN` set, that token answers HTTPS credential questions, as the password of
/// `BATON_GIT_USER` (default `x-access-token`).
#[allow(clippy::disallowed_methods)]
pub(crate) fn git_access() -> baton_state::GitAccess {
    let token = std::env::var("BATON_GIT_TOKEN").ok().filter(|t| !t.is_empty());
    let user = std::env::var("BATON_GIT_USER").ok().filter(|u| !u.is_empty());
    baton_state::GitAccess { token: token.map(|t| baton_state::GitToken::new(user, t)) }
}

/// Where exec targets keep releases and records: `$XDG_STATE_HOME/baton`, else
/// `~/.local/state/baton`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn default_applied_dir() -> std::path::PathBuf {
    xdg("XDG_STATE_HOME", ".local/state").join("baton")
}

#[allow(clippy::disallowed_methods)]
fn xdg(var: &str, under_home: &str) -> std::path::PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map_or_else(|| std::path::PathBuf::from("."), std::path::PathBuf::from)
            .join(under_home),
    }
}

/// Reads an environment variable for a `from_env` secret reference.
#[allow(clippy::disallowed_methods)]
pub(crate) fn secret_from_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
