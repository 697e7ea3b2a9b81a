//! Real git servers on loopback for the tests: Debian's nginx with fcgiwrap and
//! `git http-backend` over HTTPS (a CA of the test's own, HTTP basic auth), and Debian's sshd,
//! started by `scripts/gitserver.sh` for one test and stopped when it ends.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Runs `bash scripts/SCRIPT ARGS…`; panics, with its stderr, when it fails and `must` holds.
fn script(name: &str, args: &[&std::ffi::OsStr], must: bool) -> String {
    let output = Command::new("bash")
        .arg(crate::repo_root().join("scripts").join(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bash runs scripts/{name}: {e}"));
    assert!(
        !must || output.status.success(),
        "scripts/{name} {args:?} failed (make test installs nginx, fcgiwrap, openssh-server, docker-registry): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The user name the HTTPS server accepts, with [`GitServer::token`] as its password.
pub const GIT_USER: &str = "x-access-token";

/// One git server: HTTPS and SSH, serving the bare repositories under `repos/`.
pub struct GitServer {
    dir: tempfile::TempDir,
    /// The HTTPS port on 127.0.0.1.
    pub https_port: u16,
    /// The SSH port on 127.0.0.1.
    pub ssh_port: u16,
    /// The password of [`GIT_USER`]: a token, as an agent has one.
    pub token: String,
}

impl GitServer {
    /// Starts nginx, fcgiwrap and sshd on free ports.
    pub fn start() -> GitServer {
        let dir = tempfile::tempdir().unwrap();
        let token = format!("token-{}", std::process::id());
        let ports = script(
            "gitserver.sh",
            &["start".as_ref(), dir.path().as_os_str(), GIT_USER.as_ref(), token.as_ref()],
            true,
        );
        let mut ports = ports.split_whitespace().map(|p| p.parse::<u16>().unwrap());
        let (https_port, ssh_port) = (ports.next().unwrap(), ports.next().unwrap());
        GitServer { dir, https_port, ssh_port, token }
    }

    /// Stops the servers (the repositories stay); [`GitServer::restart`] brings them back.
    pub fn stop(&self) {
        script("gitserver.sh", &["stop".as_ref(), self.dir.path().as_os_str()], false);
    }

    /// Starts nginx, fcgiwrap and sshd again on the same ports, after [`GitServer::stop`].
    pub fn restart(&self) {
        script("gitserver.sh", &["restart".as_ref(), self.dir.path().as_os_str()], true);
    }

    /// A new bare repository `name` that accepts pushes over both protocols.
    pub fn bare(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("repos").join(name);
        crate::git(
            self.dir.path(),
            &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
        );
        crate::git(&path, &["config", "http.receivepack", "true"]);
        path
    }

    /// `https://127.0.0.1:PORT/NAME`, with no credentials in it.
    pub fn https_url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.https_port)
    }

    /// `ssh://USER@127.0.0.1:PORT/…/repos/NAME`.
    pub fn ssh_url(&self, name: &str) -> String {
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let path = self.dir.path().join("repos").join(name);
        format!("ssh://{user}@127.0.0.1:{}{}", self.ssh_port, path.display())
    }

    /// nginx's access log: one line per HTTP request.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// The CA that signed the HTTPS server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `GIT_SSH_COMMAND` for this server: its client key and known host, nothing else.
    pub fn ssh_command(&self) -> String {
        let ssh = self.dir.path().join("ssh");
        format!(
            "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            ssh.join("client").display(),
            ssh.join("known_hosts").display()
        )
    }

    /// A HOME for a person or runner of this server: git's `store` credential helper holding
    /// the user and token, as `git credential approve` would leave it.
    pub fn home_with_credentials(&self, home: &Path) {
        fs_err::create_dir_all(home).unwrap();
        fs_err::write(home.join(".gitconfig"), "[credential]\n\thelper = store\n").unwrap();
        fs_err::write(
            home.join(".git-credentials"),
            format!("https://{GIT_USER}:{}@127.0.0.1:{}\n", self.token, self.https_port),
        )
        .unwrap();
    }

    /// The environment a client of this server runs with (git or baton): the CA, the SSH
    /// command, no system git configuration, no prompt.
    pub fn client_env(&self, home: &Path) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), home.display().to_string()),
            ("GIT_SSL_CAINFO".into(), self.ca().display().to_string()),
            ("GIT_SSH_COMMAND".into(), self.ssh_command()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ]
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's docker-registry over HTTPS (a private CA) with the Docker token protocol, answered
/// by `tests/token_issuer.py`: started by `scripts/token-registry.sh` for one test.
pub struct TokenRegistry {
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The user the issuer gives tokens to.
    pub user: String,
    /// Their password.
    pub password: String,
}

impl TokenRegistry {
    /// Starts the issuer and the registry.
    pub fn start() -> TokenRegistry {
        let dir = tempfile::tempdir().unwrap();
        let (user, password) = ("release".to_owned(), format!("pw-{}", std::process::id()));
        let host = script(
            "token-registry.sh",
            &["start".as_ref(), dir.path().as_os_str(), user.as_ref(), password.as_ref()],
            true,
        );
        TokenRegistry { dir, host, user, password }
    }

    /// The CA that signed the registry's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        script("token-registry.sh", &["stop".as_ref(), self.dir.path().as_os_str()], false);
    }
}
