//! Registry credentials, found the way every container tool finds them: the auth files in order
//! (`REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`), in each a
//! `credHelpers` entry for the host, then an `auths` entry, then `credsStore`; else anonymous.
//!
//! The files to read are handed in by the caller (the binary reads the environment). Secrets
//! live only in [`Credential`], whose `Debug` and `Display` never show them.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fmt,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use base64::Engine as _;
use serde::Deserialize;

/// A secret-bearing credential for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// No credential: anonymous access (a registry may still hand out an anonymous token).
    Anonymous,
    /// User name and password (or token used as a password).
    Basic {
        /// The user name.
        username: String,
        /// The password; never printed.
        password: String,
    },
    /// An identity token for the bearer-token flow; never printed.
    IdentityToken(String),
}

/// A credential and where it came from, for error messages that help without revealing it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FoundCredential {
    /// The credential.
    pub credential: Credential,
    /// Where it was found, for example ``auths["localhost:5000"] in `/home/me/.docker/config.json` ``.
    pub source: String,
}

/// Why credentials could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An auth file is not valid JSON of the expected shape.
    #[error("registry auth file `{}` is not valid: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a secret: serde errors name positions, not values).
        message: String,
    },
    /// A credential helper failed.
    #[error("credential helper `docker-credential-{helper}` failed for `{host}`: {message}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// The registry host.
        host: String,
        /// What went wrong (its stderr, which helpers keep free of secrets).
        message: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The host part of an `auths` key: `https://index.docker.io/v1/` → `index.docker.io`.
fn normalise_key(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// Where credentials are looked up.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Auth files in order of precedence; missing ones are skipped (see [`auth_files`]).
    pub files: Vec<PathBuf>,
    /// The `PATH` that credential helpers are searched in; `None` for the process's own.
    pub helper_path: Option<OsString>,
}

/// Looks up the credential for `host`.
pub fn find_credential(config: &AuthConfig, host: &str) -> Result<FoundCredential, AuthError> {
    for path in &config.files {
        let Ok(text) = fs_err::read_to_string(path) else {
            continue;
        };
        let file: AuthFile = serde_json::from_str(&text)
            .map_err(|e| AuthError::File { path: path.clone(), message: e.to_string() })?;
        if let Some(helper) = file.cred_helpers.get(host)
            && let Some(credential) = run_helper(config, helper, host)?
        {
            return Ok(FoundCredential {
                credential,
                source: format!(
                    "credHelpers[\"{host}\"] = docker-credential-{helper}, from `{}`",
                    path.display()
                ),
            });
        }
        if let Some((key, entry)) = file.auths.iter().find(|(key, _)| normalise_key(key) == host) {
            let credential = entry_credential(entry).map_err(|message| AuthError::File {
                path: path.clone(),
                message: format!("auths[\"{key}\"]: {message}"),
            })?;
            if let Some(credential) = credential {
                return Ok(FoundCredential {
                    credential,
                    source: format!("auths[\"{key}\"] in `{}`", path.display()),
                });
            }
        }
        if let Some(helper) = &file.creds_store
            && let Some(credential) = run_helper(config, helper, host)?
        {
            return Ok(FoundCredential {
                credential,
                source: format!("credsStore docker-credential-{helper}, from `{}`", path.display()),
            });
        }
    }
    Ok(FoundCredential {
        credential: Credential::Anonymous,
        source: "no credential configured (anonymous)".to_owned(),
    })
}

fn entry_credential(entry: &AuthEntry) -> Result<Option<Credential>, String> {
    if let Some(token) = entry.identity_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.clone())));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "`auth` is not base64 of `user:password`".to_owned())?;
        let text =
            String::from_utf8(decoded).map_err(|_| "`auth` does not decode to UTF-8".to_owned())?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| "`auth` does not decode to `user:password`".to_owned())?;
        return Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) => {
            Ok(Some(Credential::Basic { username: username.clone(), password: password.clone() }))
        }
        _ => Ok(None),
    }
}

/// Runs `docker-credential-HELPER get` with the host on stdin; `None` when it has no credential.
fn run_helper(
    config: &AuthConfig,
    helper: &str,
    host: &str,
) -> Result<Option<Credential>, AuthError> {
    let error = |message: String| AuthError::Helper {
        helper: helper.to_owned(),
        host: host.to_owned(),
        message,
    };
    let program = format!("docker-credential-{helper}");
    let mut command = Command::new(&program);
    if let Some(path) = &config.helper_path {
        command.env("PATH", path);
    }
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run `{program}`: {e}")))?;
    child
        .stdin
        .take()
        .expect("holds because stdin was piped")
        .write_all(host.as_bytes())
        .map_err(|e| error(format!("cannot write to `{program}`: {e}")))?;
    let output =
        child.wait_with_output().map_err(|e| error(format!("`{program}` did not finish: {e}")))?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stdout).trim().to_owned()
            + String::from_utf8_lossy(&output.stderr).trim();
        if message.contains("credentials not found") {
            return Ok(None);
        }
        return Err(error(format!("{} ({message})", output.status)));
    }
    let parsed: HelperOutput = serde_json::from_slice(&output.stdout).map_err(|_| {
        error("it printed something other than {\"Username\", \"Secret\"} JSON".to_owned())
    })?;
    Ok(Some(if parsed.username == "<token>" {
        Credential::IdentityToken(parsed.secret)
    } else {
        Credential::Basic { username: parsed.username, password: parsed.secret }
    }))
}

/// The auth files every container tool reads, in order, from the given environment values.
pub fn auth_files(
    registry_auth_file: Option<&Path>,
    docker_config: Option<&Path>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(file) = registry_auth_file {
        files.push(file.to_owned());
    }
    match (docker_config, home) {
        (Some(dir), _) => files.push(dir.join("config.json")),
        (None, Some(home)) => files.push(home.join(".docker/config.json")),
        (None, None) => {}
    }
    files
}

#[cfg(test)]
mod tests;
