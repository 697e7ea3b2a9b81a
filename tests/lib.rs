//! Helpers for the end-to-end tests: run the real `baton` binary, real `git` and real `skopeo`
//! in temporary directories, and craft hostile bundles by hand.
#![allow(clippy::missing_panics_doc, unreachable_pub)]

mod servers;

pub use servers::{GIT_USER, GitServer, TokenRegistry};

use std::{
    path::{Path, PathBuf},
    process::Command as StdCommand,
    sync::OnceLock,
};

use baton_model::Digest;
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("holds because tests/ is in the repository")
        .to_owned()
}

/// The `baton` binary, built once per test process unless `BATON_TEST_BIN` names one.
#[allow(clippy::disallowed_methods)]
pub fn baton_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("BATON_TEST_BIN") {
            return PathBuf::from(bin);
        }
        let status = StdCommand::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "baton", "--bin", "baton"])
            .current_dir(repo_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p baton failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| repo_root().join("target"), PathBuf::from);
        target.join("debug").join("baton")
    })
}

/// A `baton` command with a clean environment, run in `cwd`.
pub fn baton(cwd: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(baton_process(cwd))
}

/// [`baton`] as a `std::process::Command`, for a test that spawns it and waits later.
pub fn baton_process(cwd: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(baton_bin());
    cmd.current_dir(cwd)
        .env_remove("BATON_STORE")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("BATON_LOG")
        .env_remove("BATON_SIGN_KEY")
        .env_remove("BATON_BUNDLE_SIGN_KEY")
        .env_remove("BATON_GIT_TOKEN")
        .env_remove("BATON_GIT_USER")
        .env_remove("REGISTRY_AUTH_FILE")
        // No credential of the machine's user leaks into a test: an empty docker config.
        .env("DOCKER_CONFIG", cwd.join(".docker-config-of-this-test"))
        // Nor their git identity or configuration: principals come from `--as` or the repository.
        .env("HOME", cwd.join(".home-of-this-test"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs real `git` in `dir` with a fixed identity, dated now as a person's commit would be;
/// panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with::<&str, &str>(dir, args, &[])
}

/// Like [`git`], with author and committer dated `date` (RFC 3339).
pub fn git_at(dir: &Path, args: &[&str], date: &str) -> String {
    git_with(dir, args, &[("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)])
}

/// Like [`git`], with `env` on top (a HOME with credentials, a CA, an SSH command), dated by
/// `env` or now; panics on failure.
pub fn git_with<K: AsRef<std::ffi::OsStr>, V: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    args: &[&str],
    env: &[(K, V)],
) -> String {
    let output = StdCommand::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Release Engineer")
        .env("GIT_AUTHOR_EMAIL", "re@example.com")
        .env("GIT_COMMITTER_NAME", "Release Engineer")
        .env("GIT_COMMITTER_EMAIL", "re@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Copies a directory tree, symlinks as symlinks, in reverse name order (so directory entry
/// order differs from the source).
pub fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = fs_err::read_dir(from).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
    for entry in entries {
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            fs_err::os::unix::fs::symlink(fs_err::read_link(entry.path()).unwrap(), &target)
                .unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An example descriptor copied into `dir/name` (outside any git repository).
pub fn example(dir: &Path, example: &str) -> PathBuf {
    let to = dir.join(example);
    copy_tree(&repo_root().join("examples").join(example), &to);
    to
}

/// Parses stdout as JSON.
pub fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    })
}

/// Parses stdout as the command's typed report.
pub fn stdout_typed<T: serde::de::DeserializeOwned>(output: &std::process::Output) -> T {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the expected report ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Stdout as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Builds `descriptor` into `oci:store` with `--output json` and returns the JSON.
pub fn build_json(
    cwd: &Path,
    descriptor: &Path,
    store: &Path,
    extra: &[&str],
) -> baton_build::BuildReport {
    let output = baton(cwd)
        .args(["bundle", "build"])
        .arg(descriptor)
        .arg("--store")
        .arg(format!("oci:{}", store.display()))
        .args(["--output", "json"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(output.status.success(), "build failed: {}", stderr(&output));
    stdout_typed(&output)
}

/// The digest tag `tag` names in the OCI layout at `layout` (a bundle's directory of a layout
/// store), read from its `index.json`; `None` when no entry has that tag.
pub fn layout_tag(layout: &Path, tag: &str) -> Option<String> {
    let index: Value =
        serde_json::from_str(&fs_err::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .map(|m| m["digest"].as_str().unwrap().to_owned())
}

/// A fresh ed25519 key pair `dir/name` (and `.pub`) made by ssh-keygen, without a passphrase;
/// returns the private key's path and the public key's line.
pub fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let public = fs_err::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_owned())
}

/// A hand commit of everything staged in `state`, signed by git itself with `key` when given.
pub fn signed_commit(state: &Path, message: &str, key: Option<&Path>) {
    let signing = key.map(|k| format!("user.signingkey={}", k.display()));
    let mut args = Vec::new();
    if let Some(signing) = &signing {
        args.extend(["-c", "gpg.format=ssh", "-c", signing.as_str()]);
    }
    args.extend(["commit", "-q", "-m", message]);
    if key.is_some() {
        args.push("-S");
    }
    git(state, &args);
}

/// The path of a blob in `store` for bundle `name`.
pub fn blob_path(store: &Path, name: &str, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    store.join(name).join("blobs/sha256").join(hex)
}

/// One entry of a hand-made layer.
pub enum Crafted<'a> {
    /// A regular file with raw path bytes.
    File(&'a str, &'a [u8]),
    /// A symlink.
    Symlink(&'a str, &'a str),
    /// A hard link.
    HardLink(&'a str, &'a str),
    /// A character device (as `/dev/null` is).
    CharDevice(&'a str),
}

/// Writes a bundle whose layer holds exactly `entries` (paths written raw, unchecked) into the
/// layout store at `store`, with a config index that lists every entry, and tags it `1.0.0`.
/// Returns the manifest digest.
pub fn craft_bundle(store: &Path, name: &str, entries: &[Crafted<'_>]) -> String {
    use std::io::Write;
    let mut tar_bytes = Vec::new();
    let mut files = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        let (path, kind, data, link): (&str, tar::EntryType, &[u8], Option<&str>) = match entry {
            Crafted::File(path, data) => (path, tar::EntryType::Regular, data, None),
            Crafted::Symlink(path, target) => (path, tar::EntryType::Symlink, b"", Some(target)),
            Crafted::HardLink(path, target) => (path, tar::EntryType::Link, b"", Some(target)),
            Crafted::CharDevice(path) => (path, tar::EntryType::Char, b"", None),
        };
        {
            let raw = header.as_ustar_mut().unwrap();
            raw.name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(link) = link {
                raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
        }
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Symlink { 0o777 } else { 0o644 });
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_cksum();
        tar_bytes.extend_from_slice(header.as_bytes());
        tar_bytes.extend_from_slice(data);
        tar_bytes.resize(tar_bytes.len().div_ceil(512) * 512, 0);
        let mut file = serde_json::json!({"path": path, "kind": "file", "mode": "0644", "size": data.len(), "sha256": Digest::of(data)});
        if let Some(link) = link {
            file = serde_json::json!({"path": path, "kind": "symlink", "mode": "0777", "size": 0, "target": link});
        }
        if !files.iter().any(|f: &Value| f["path"] == path) {
            files.push(file);
        }
    }
    tar_bytes.extend_from_slice(&[0; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "name": name, "version": "1.0.0", "created": "1970-01-01T00:00:00Z", "params": {}, "render": [],
        "layer": {"tar_digest": Digest::of(&tar_bytes), "tar_size": tar_bytes.len(),
                  "compressor": {"name": "zlib-rs", "version": "test", "level": 6, "block_size": 1_048_576}},
        "files": files,
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.baton.bundle.v1",
        "config": {"mediaType": "application/vnd.baton.bundle.config.v1+json", "digest": Digest::of(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.baton.bundle.layer.v1.tar+gzip", "digest": Digest::of(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let layout = store.join(name);
    fs_err::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs_err::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for blob in [&layer, &config, &manifest] {
        fs_err::write(layout.join("blobs/sha256").join(Digest::of(blob).hex()), blob).unwrap();
    }
    let digest = Digest::of(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "1.0.0"}}],
    });
    fs_err::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digest.to_string()
}

/// Registry options for library-level tests: no credential files, no retries.
pub fn registry_options() -> baton_store::RegistryOptions {
    baton_store::RegistryOptions {
        auth: baton_store::auth::AuthConfig { files: Vec::new(), helper_path: None },
        insecure: Vec::new(),
        retries: 0,
        chunked_uploads: false,
        timeouts: baton_store::Timeouts::default(),
        trust: baton_store::Trust::default(),
    }
}

/// A registry on loopback that `make test` started: `(HOST:PORT)`. Fails, never skips, when
/// there is none: registry tests are part of the suite.
#[allow(clippy::disallowed_methods)]
pub fn registry() -> String {
    std::env::var("BATON_TEST_REGISTRY").expect(
        "BATON_TEST_REGISTRY is not set: run `make test`, which starts Debian's docker-registry on loopback \
         (or start one with scripts/registry.sh start DIR and export its HOST:PORT)",
    )
}

/// The registry with htpasswd auth that `make test` started, with its user and password.
#[allow(clippy::disallowed_methods)]
pub fn auth_registry() -> (String, String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test`"))
    };
    (var("BATON_TEST_AUTH_REGISTRY"), var("BATON_TEST_AUTH_USER"), var("BATON_TEST_AUTH_PASSWORD"))
}

/// The Python that `make test` gave the verifiers from the Python Package Index (`securesystemslib`, `oras`,
/// `cryptography`): `scripts/pyvenv.sh`. Fails, never skips, when there is none.
#[allow(clippy::disallowed_methods)]
pub fn python() -> PathBuf {
    PathBuf::from(std::env::var("BATON_TEST_PYTHON").expect(
        "BATON_TEST_PYTHON is not set: run `make test`, which installs the verifiers from PyPI \
         (or run scripts/pyvenv.sh DIR and export the path it prints)",
    ))
}

/// A repository prefix no other test uses.
pub fn unique_path(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// The storage directory of the open registry `make test` started (for tampering tests).
#[allow(clippy::disallowed_methods)]
pub fn registry_storage() -> PathBuf {
    PathBuf::from(
        std::env::var("BATON_TEST_REGISTRY_STORAGE")
            .expect("BATON_TEST_REGISTRY_STORAGE is not set: run `make test`"),
    )
}

/// The example state repository (`examples/state`) copied to `dir/state`, made a git repository
/// on branch `main` with one commit.
pub fn state_repo(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    copy_tree(&repo_root().join("examples/state"), &state);
    git(&state, &["init", "-q", "-b", "main"]);
    git(&state, &["add", "-A"]);
    git(&state, &["commit", "-q", "-m", "pipeline and params"]);
    state
}

/// Every file below `dir` with its bytes, by relative path, sorted: a tree to compare whole.
pub fn tree_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                files.push((name, fs_err::read(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

/// Runs `baton` in `cwd` with `args`, returning the output whatever the exit code.
pub fn run(cwd: &Path, args: &[&str]) -> std::process::Output {
    baton(cwd).args(args).output().unwrap()
}

/// The secret the example params read (`tls_key = { from_env = "WEB_TLS_KEY" }`); a test that
/// finds it anywhere but in the one rendered file that uses it has found a leak.
pub const SECRET: &str = "s3cr3t-tls-key-8f2c1a";

/// The one fixture: a temporary directory with the example state repository, examples/web
/// built into `oci:build`, and a private cache and applied dir. Every `baton` it runs has the
/// isolated environment of [`baton`] (its own HOME, docker config and git config) and the secret.
pub struct World {
    /// The temporary directory; everything lives under it.
    pub tmp: tempfile::TempDir,
    /// The state repository (`tmp/state`).
    pub state: PathBuf,
    /// The digest of examples/web in `oci:build`.
    pub web: String,
}

impl World {
    /// The example state repository, and web built into `oci:build`.
    pub fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_repo(tmp.path());
        let built =
            build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("build"), &[]);
        World { tmp, state, web: built.digest.to_string() }
    }

    /// web promoted by baton through dev, staging and prod (approved by alice and bob).
    pub fn chain() -> World {
        let w = World::new();
        w.pin("dev", &w.web.clone());
        w.ok(&["promote", "web", "--to", "staging", "--as", "ci"]);
        w.ok(&["approve", "web", "--env", "prod", "--as", "alice"]);
        w.ok(&["approve", "web", "--env", "prod", "--as", "bob"]);
        w.ok(&["promote", "web", "--to", "prod", "--as", "ci"]);
        w
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `oci:tmp/build`, where [`World::new`] and [`World::build`] put bundles.
    pub fn build_store(&self) -> String {
        format!("oci:{}", self.dir().join("build").display())
    }

    /// The applier's cache.
    pub fn cache(&self) -> PathBuf {
        self.dir().join("cache")
    }

    /// `baton ARGS` in the state repository.
    pub fn baton(&self, args: &[&str]) -> std::process::Output {
        baton(&self.state)
            .args(args)
            .env("BATON_CACHE", self.cache())
            .env("BATON_APPLIED_DIR", self.dir().join("applied"))
            .env("WEB_TLS_KEY", SECRET)
            .output()
            .unwrap()
    }

    /// Runs with `--output json`, expects exit 0, returns the document.
    pub fn ok(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.baton(&all);
        assert!(output.status.success(), "baton {args:?}: {}", stderr(&output));
        stdout_json(&output)
    }

    /// Like [`World::ok`], decoded into the command's typed report.
    pub fn typed<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        serde_json::from_value(self.ok(args)).unwrap_or_else(|e| panic!("baton {args:?}: {e}"))
    }

    /// Runs, expects exit `code`, returns stderr and stdout.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.baton(args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "baton {args:?}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        stderr(&output) + &stdout(&output)
    }

    /// Commits everything in the state repository by hand (real git).
    pub fn commit(&self, message: &str) {
        git(&self.state, &["add", "-A"]);
        git(&self.state, &["commit", "-q", "-m", message]);
    }

    /// Pins `digest` of web in `env` straight from `oci:build`, as `ci`.
    pub fn pin(&self, env: &str, digest: &str) -> baton_promote::Promotion {
        self.pin_as(env, digest, "ci")
    }

    /// Pins `digest` of web in prod from `store`, skipping the gates with break-glass `reason`,
    /// as `principal`.
    pub fn break_glass(
        &self,
        digest: &str,
        store: &str,
        reason: &str,
        principal: &str,
    ) -> baton_promote::Promotion {
        self.typed(&[
            "promote",
            "web",
            "--to",
            "prod",
            "--digest",
            digest,
            "--from-store",
            store,
            "--break-glass",
            reason,
            "--as",
            principal,
        ])
    }

    /// Pins `digest` of web in `env` straight from `oci:build`, as `principal`.
    pub fn pin_as(&self, env: &str, digest: &str, principal: &str) -> baton_promote::Promotion {
        let from = self.build_store();
        self.typed(&[
            "promote",
            "web",
            "--to",
            env,
            "--digest",
            digest,
            "--from-store",
            &from,
            "--as",
            principal,
        ])
    }

    /// Builds `examples/NAME` into `oci:build` and promotes it into dev (the first environment)
    /// as `ci`; returns the digest and the promotion.
    pub fn example_into_dev(&self, name: &str) -> (String, baton_promote::Promotion) {
        let built =
            build_json(self.dir(), &example(self.dir(), name), &self.dir().join("build"), &[]);
        let digest = built.digest.to_string();
        let from = self.build_store();
        let args = ["promote", name, "--to", "dev", "--digest", &digest, "--from-store", &from];
        let promotion = self.typed(&[&args[..], &["--as", "ci"]].concat());
        (digest, promotion)
    }

    /// Builds examples/web as bundle `name` at `version` into `oci:build`; returns the digest.
    pub fn build_named(&self, name: &str, version: &str) -> String {
        let dir = self.dir().join(format!("src-{name}-{version}"));
        copy_tree(&repo_root().join("examples/web"), &dir);
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest)
            .unwrap()
            .replace("name = \"web\"", &format!("name = \"{name}\""))
            .replace("version = \"1.4.2\"", &format!("version = \"{version}\""));
        fs_err::write(&manifest, text).unwrap();
        build_json(self.dir(), &dir, &self.dir().join("build"), &[]).digest.to_string()
    }

    /// Builds a variant of examples/web (its version, a line naming it in the page, and `edit`
    /// of its files) into `oci:build`; returns the digest.
    pub fn build(&self, version: &str, edit: impl FnOnce(&Path)) -> String {
        let dir = self.dir().join(format!("src-{version}"));
        copy_tree(&repo_root().join("examples/web"), &dir);
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest)
            .unwrap()
            .replace("version = \"1.4.2\"", &format!("version = \"{version}\""));
        fs_err::write(&manifest, text).unwrap();
        let index = dir.join("html/index.html");
        let page = fs_err::read_to_string(&index)
            .unwrap()
            .replace("</body>", &format!("<p id=\"version\">release {version}</p></body>"));
        fs_err::write(&index, page).unwrap();
        edit(&dir);
        build_json(self.dir(), &dir, &self.dir().join("build"), &[]).digest.to_string()
    }
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

/// Debian's nginx, which lives in /usr/sbin (a non-root PATH may lack it).
pub fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" }
}

/// Debian's nginx on a free loopback port serving `root` (which need not exist yet), its
/// configuration and temporary files in `dir`; stopped on drop.
pub struct Nginx {
    child: std::process::Child,
    /// The port on 127.0.0.1.
    pub port: u16,
}

impl Nginx {
    /// Starts it and waits until it listens.
    pub fn start(dir: &Path, root: &Path) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        fs_err::create_dir_all(dir.join("tmp")).unwrap();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\nerror_log stderr crit;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    location / {{ index index.html; }}\n  }}\n}}\n",
            dir = dir.display(),
            root = root.display()
        );
        fs_err::write(dir.join("nginx.conf"), config).unwrap();
        let child = StdCommand::new(nginx_bin())
            .args(["-e", "stderr", "-p"])
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx runs (make test installs Debian's nginx)");
        let nginx = Nginx { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("nginx did not listen on {port}");
    }

    /// `curl -fsS` of `path`; panics unless it answers 2xx.
    pub fn get(&self, path: &str) -> String {
        let output = StdCommand::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{}{path}", self.port)])
            .output()
            .unwrap();
        assert!(output.status.success(), "curl: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commits `record` as the pin of its environment in `state` with baton's trailers, signed
/// with `key` by git itself: shaped exactly as baton writes a promotion, for tests of forgery.
pub fn forge_signed(state: &Path, record: &baton_model::StateRecord, key: &Path) {
    let path = state.join(format!("state/{}/{}.toml", record.environment, record.bundle));
    fs_err::write(path, record.to_toml()).unwrap();
    let trailers = baton_model::Trailers {
        action: baton_model::Action::Promote,
        bundle: record.bundle.clone(),
        digest: record.digest.clone(),
        from: record.from.as_ref().map(ToString::to_string),
        to: record.environment.clone(),
        version: Some(record.version.clone()),
        by: record.by.clone(),
        params: Some(record.params_digest.clone()),
        previous: record.previous.clone(),
        reason: None,
    };
    git(state, &["add", "-A"]);
    signed_commit(state, &trailers.message(&format!("promote {}", record.bundle)), Some(key));
}
