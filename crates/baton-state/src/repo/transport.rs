//! How baton reaches a remote. git's own settings hold for both halves (gix fetches in-process,
//! the `git` CLI pushes): credential helpers and `GIT_ASKPASS` for HTTPS, `core.sshCommand` /
//! `GIT_SSH_COMMAND` and the user's agent and keys for SSH, `http.sslCAInfo` / `GIT_SSL_CAINFO`
//! for a private CA. On top of them a [`GitToken`] (an agent's `BATON_GIT_TOKEN`) answers any
//! HTTPS credential question, for the fetch and for the push, without ever being written down:
//! not in a URL, a config file, a command line or a message.

use std::{
    fmt,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use gix::{
    credentials::{helper::Action, protocol},
    protocol::transport::client::blocking_io::http,
};

/// How long one fetch may take before it is interrupted.
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// The largest CA bundle read (`http.sslCAInfo`).
const CA_BUNDLE_LIMIT: u64 = 4 << 20;

/// A token for HTTPS remotes, used as the password of `username`.
#[derive(Clone)]
pub struct GitToken {
    username: String,
    token: String,
}

impl GitToken {
    /// The token, sent as the password of `username` (`x-access-token` when none is given, as
    /// GitHub expects; GitLab and Gitea accept any user name with a personal access token).
    pub fn new(username: Option<String>, token: String) -> GitToken {
        GitToken { username: username.unwrap_or_else(|| "x-access-token".to_owned()), token }
    }
}

impl fmt::Debug for GitToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitToken").field("username", &self.username).finish_non_exhaustive()
    }
}

/// What baton adds to git's settings when it talks to a remote.
#[derive(Clone, Debug, Default)]
pub struct GitAccess {
    /// Answers every HTTPS credential question, instead of git's credential helpers.
    pub token: Option<GitToken>,
}

/// The environment variable the `git` CLI's credential helper reads the token from: the token
/// reaches git through the child's environment, never its command line.
const TOKEN_VARIABLE: &str = "BATON_GIT_TOKEN";
const USER_VARIABLE: &str = "BATON_GIT_USER";

impl GitAccess {
    /// Arguments and environment for a `git` command that talks to the remote: with a token, a
    /// credential helper (the only one) that answers with it.
    pub(super) fn git_command(&self, command: &mut std::process::Command) {
        let Some(token) = &self.token else { return };
        command
            .args(["-c", "credential.helper="])
            .args([
                "-c",
                "credential.helper=!f() { test \"$1\" = get || return 0; echo \"username=$BATON_GIT_USER\"; echo \"password=$BATON_GIT_TOKEN\"; }; f",
            ])
            .env(USER_VARIABLE, &token.username)
            .env(TOKEN_VARIABLE, &token.token);
    }

    /// Prepares `connection` as git would, plus what gix's HTTP client does not do itself: it
    /// trusts the CA git is configured with (`http.sslCAInfo`, `GIT_SSL_CAINFO`), and with a
    /// token, the token answers every credential question.
    pub(super) fn configure(&self, connection: &mut Connection<'_, '_, '_>) -> gix::Result {
        // rustls needs one crypto provider per process; a second install is refused, harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let remote = connection.remote();
        let url = remote.url(gix::remote::Direction::Fetch).map(gix::Url::to_bstring);
        let Some(url) = url.filter(|u| u.starts_with(b"https://") || u.starts_with(b"http://"))
        else {
            if let Some(token) = self.token.clone() {
                connection.set_credentials(move |action| Ok(answer(&token, action)));
            }
            return Ok(());
        };
        if let Some(options) = remote.repo().transport_options(url.as_slice(), None)?
            && let Ok(mut options) = options.downcast::<http::Options>()
        {
            with_ca(&mut options).map_err(gix::Error::from_error)?;
            connection.set_transport_options(options);
        }
        // Credentials go with the first request, so an idle pass is not a 401 and a retry:
        // the token, or what the credential helpers answered for this URL earlier in this
        // process (held in memory only, forgotten when the server refuses it).
        let key = crate::without_credentials(&url.to_string());
        let known = match &self.token {
            Some(token) => Some(account(token)),
            None => learned()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .cloned(),
        };
        if let Some(known) = known {
            connection.transport_mut().set_identity(known).map_err(gix::Error::from_error)?;
        }
        if let Some(token) = self.token.clone() {
            connection.set_credentials(move |action| Ok(answer(&token, action)));
        } else {
            let mut helpers = connection.configured_credentials_for_current_url();
            connection.set_credentials(move |action| {
                let erase = matches!(action, Action::Erase(_));
                let outcome = helpers(action);
                let mut learned =
                    learned().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if erase {
                    learned.remove(&key);
                } else if let Ok(Some(answer)) = &outcome {
                    learned.insert(key.clone(), answer.identity.clone());
                }
                outcome
            });
        }
        Ok(())
    }
}

/// What git's credential helpers answered per remote URL in this process (an agent asks once,
/// not on every pass).
fn learned()
-> &'static std::sync::Mutex<std::collections::BTreeMap<String, gix::sec::identity::Account>> {
    static LEARNED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::BTreeMap<String, gix::sec::identity::Account>>,
    > = std::sync::OnceLock::new();
    LEARNED.get_or_init(Default::default)
}

/// Makes a fetch of the mirror from `url` that finds nothing new one HTTP request: git's
/// protocol v1 for HTTP(S) remotes, whose first answer lists the refs (v2 asks again for them
/// in a second request). A state repository has few refs, so the list is small.
pub(super) fn idle_cheap(repo: &mut gix::Repository, url: &str) -> Result<(), super::GitError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Ok(());
    }
    let mut config = repo.config_snapshot_mut();
    config.set_value(&gix::config::tree::Protocol::VERSION, "1")?;
    config.commit()?;
    Ok(())
}

/// The token as the identity sent with the first request.
fn account(token: &GitToken) -> gix::sec::identity::Account {
    gix::sec::identity::Account {
        username: token.username.clone(),
        password: token.token.clone(),
        oauth_refresh_token: None,
    }
}

/// A connection as gix makes it for a remote.
pub(super) type Connection<'a, 'b, 'c> = gix::remote::Connection<
    'a,
    'b,
    'c,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Runs `work` with an interrupt flag that is raised once [`FETCH_TIMEOUT`] has passed: gix
/// checks it while it receives, so no fetch runs unbounded.
pub(super) fn bounded<T>(work: impl FnOnce(&AtomicBool) -> T) -> T {
    let interrupt = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if started.elapsed() > FETCH_TIMEOUT {
                    interrupt.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let result = work(&interrupt);
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// The token as the answer to a credential question.
fn answer(token: &GitToken, action: Action) -> Option<protocol::Outcome> {
    match action {
        Action::Get(context) => {
            Some(protocol::Outcome { identity: account(token), next: context.into() })
        }
        Action::Store(_) | Action::Erase(_) => None,
    }
}

/// Makes the HTTP client trust the CA bundle git is configured with, besides the system's.
fn with_ca(options: &mut http::Options) -> std::io::Result<()> {
    let Some(path) = options.ssl_ca_info.clone() else { return Ok(()) };
    let pem = baton_fs::read_limited(&path, CA_BUNDLE_LIMIT)?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        std::io::Error::other(format!(
            "`{}` (http.sslCAInfo or GIT_SSL_CAINFO) is not a PEM bundle of certificates: {e}",
            path.display()
        ))
    })?;
    let verify = options.ssl_verify;
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            Ok(builder
                .tls_certs_merge(certificates.clone())
                .tls_danger_accept_invalid_certs(!verify))
        })),
        configure_request: None,
    };
    options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
    Ok(())
}
