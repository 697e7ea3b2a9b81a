//! Every network read is bounded: against a registry written with Python's http.server that
//! never answers, drips, floods a manifest, serves a blob longer than its descriptor, or asks to
//! be retried later; and the agent's SIGTERM interrupts a pass that waits on it.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use baton_tests::{World, baton, blob_path, build_json, example, repo_root, stderr};

/// The misbehaving registry, serving the bundle in a layout store; killed on drop.
pub(crate) struct Hostile {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Hostile {
    pub(crate) fn start(mode: &str, layout: &Path, layer: Option<&str>) -> Hostile {
        let log = layout.with_extension(format!("{mode}.log"));
        let mut command = Command::new("python3");
        command
            .arg(repo_root().join("tests/hostile_registry.py"))
            .args([Path::new(mode), layout, &log])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(layer) = layer {
            command.env("HOSTILE_DIGEST", layer);
        }
        let mut child = command.spawn().expect("python3 runs (make test installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the registry prints its port");
        Hostile { child, port, log }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn requests(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// examples/web built into `tmp/store`: the layout of web, the manifest digest, the layer digest.
fn web(tmp: &Path) -> (PathBuf, String, String) {
    let built = build_json(tmp, &example(tmp, "web"), &tmp.join("store"), &[]);
    let digest = built.digest.to_string();
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs_err::read(blob_path(&tmp.join("store"), "web", &digest)).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    (tmp.join("store/web"), digest, layer)
}

/// `baton bundle copy FROM TO` with `args` before it, in `dir`.
fn copy(dir: &Path, from: &str, to: &str, args: &[&str]) -> std::process::Output {
    baton(dir).args(args).args(["bundle", "copy", from, to]).output().unwrap()
}

#[test]
fn a_registry_that_accepts_and_never_answers_fails_after_the_read_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest, _) = web(tmp.path());
    let registry = Hostile::start("silent", &layout, None);
    let from = format!("{}/evil/web@{digest}", registry.host());
    let output = copy(tmp.path(), &from, "oci:copy", &["--registry-read-timeout", "1s"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("registry store `{}/evil`", registry.host())), "{err}");
    assert!(err.contains("no answer within 10s to connect or 1s between reads"), "{err}");
    assert!(err.contains("--registry-read-timeout"), "{err}");
    assert!(!tmp.path().join("copy/web/index.json").exists(), "nothing was written");
}

#[test]
fn a_registry_that_drips_fails_after_the_total_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest, _) = web(tmp.path());
    let registry = Hostile::start("drip", &layout, None);
    let from = format!("{}/evil/web@{digest}", registry.host());
    // Each byte comes well within the read timeout; the whole never does.
    let args = ["--registry-read-timeout", "5s", "--registry-timeout", "2s"];
    let output = copy(tmp.path(), &from, "oci:copy", &args);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("registry store `{}/evil`", registry.host())), "{err}");
    assert!(err.contains("no complete answer within 2s (--registry-timeout sets it)"), "{err}");
    assert!(!err.contains("attempts"), "a drip is not retried: {err}");
}

#[test]
fn a_manifest_is_cut_off_at_four_mib_while_it_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest, _) = web(tmp.path());
    let registry = Hostile::start("huge-manifest", &layout, None);
    let output =
        copy(tmp.path(), &format!("{}/evil/web@{digest}", registry.host()), "oci:copy", &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("the manifest is larger than 4194304 bytes: refused"), "{err}");
    assert!(!tmp.path().join("copy/web/index.json").exists(), "nothing was written");
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused_before_anything_is_tagged() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest, layer) = web(tmp.path());
    let registry = Hostile::start("oversized-blob", &layout, Some(&layer));
    let from = format!("{}/evil/web@{digest}", registry.host());
    let output = copy(tmp.path(), &from, "oci:copy", &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}{}", baton_tests::stdout(&output));
    assert!(err.contains(&format!("blob {layer} holds more than the")), "{err}");
    assert!(err.contains("bytes its descriptor gives: refused"), "{err}");
    assert!(!tmp.path().join("copy/web/index.json").exists(), "no tag names it");
    // Verification and unpacking read through the same bound.
    let output = baton(tmp.path()).args(["bundle", "verify", &from]).output().unwrap();
    let said = stderr(&output) + &baton_tests::stdout(&output);
    assert_eq!(output.status.code(), Some(4), "verification found a problem: {said}");
    assert!(said.contains("holds more than the"), "{said}");
}

#[test]
fn retry_after_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest, _) = web(tmp.path());
    let registry = Hostile::start("retry-after", &layout, None);
    let from = format!("{}/evil/web@{digest}", registry.host());
    let output = copy(tmp.path(), &from, "oci:copy", &["-v"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("delay=2s") && err.contains("transient failure; retrying"), "{err}");
    // The registry saw the second manifest request no sooner than it asked.
    let times: Vec<f64> = registry
        .requests()
        .lines()
        .filter(|l| l.contains(" GET ") && l.contains("/manifests/"))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(times.len() >= 2, "{}", registry.requests());
    assert!(times[1] - times[0] >= 1.9, "retried after {} s", times[1] - times[0]);
}

/// A registry that answers a blob's first HEAD with a 500 and the first manifest PUT with
/// `MANIFEST_BLOB_UNKNOWN` (Docker's registry does both while another upload of the same blob is
/// moving it into place), and a manifest's PUT without a `Location` (as ECR does, which made
/// oci-client's push by digest panic): both are retried, the push completes, and what the
/// registry holds reads back intact.
#[test]
fn a_blob_check_answered_500_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, digest, layer) = web(tmp.path());
    let pushed = tmp.path().join("pushed");
    fs_err::create_dir_all(&pushed).unwrap();
    let registry = Hostile::start("flaky-head", &pushed, None);
    let to = format!("{}/flaky/web", registry.host());
    let output = copy(tmp.path(), &format!("oci:store/web@{digest}"), &to, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("transient failure; retrying"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("MANIFEST_BLOB_UNKNOWN"), "the manifest was sent again: {err}");
    let requests = registry.requests();
    let heads = requests.lines().filter(|l| l.contains(" HEAD ") && l.ends_with(&layer)).count();
    assert!(heads >= 2, "the layer's check was asked again: {requests}");
    // What the registry now holds is the bundle, byte for byte.
    let back = copy(tmp.path(), &format!("{to}@{digest}"), "oci:back", &[]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    let back = format!("oci:back/web@{digest}");
    let verified = baton(tmp.path()).args(["bundle", "verify", &back]).output().unwrap();
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
}

#[test]
fn sigterm_interrupts_an_agent_pass_that_waits_on_a_registry() {
    let w = World::new();
    w.pin("dev", &w.web);
    // Then dev's store becomes a registry that never answers: the agent's fetch waits on it.
    let elsewhere = w.dir().join("hostile");
    fs_err::create_dir_all(&elsewhere).unwrap();
    let (layout, _, _) = web(&elsewhere);
    let registry = Hostile::start("silent", &layout, None);
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("store = \"oci:stores/dev\"", &format!("store = \"{}/evil\"", registry.host()));
    fs_err::write(&pipeline, text).unwrap();
    w.commit("dev's store is a registry");
    // Timeouts far beyond the test's patience: only the signal can end the wait.
    let mut agent = Command::new(baton_tests::baton_bin())
        .current_dir(&w.state)
        .env("DOCKER_CONFIG", w.dir().join("no-docker-config"))
        .env("HOME", w.dir().join("home"))
        .env("BATON_APPLIED_DIR", w.dir().join("applied"))
        .args(["agent", "--env", "dev", "--interval", "3600"])
        .args(["--registry-read-timeout", "10m", "--registry-timeout", "1h"])
        .env("BATON_CACHE", w.cache())
        .env("WEB_TLS_KEY", baton_tests::SECRET)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    while !registry.requests().contains("silent") {
        if let Some(status) = agent.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut agent.stderr.take().unwrap(), &mut err).unwrap();
            panic!("the agent ended ({status}) before it reached the registry: {err}");
        }
        assert!(waited.elapsed() < Duration::from_secs(60), "the agent never reached the registry");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rustix::process::Pid::from_child(&agent);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let waited = Instant::now();
    let status = loop {
        if let Some(status) = agent.try_wait().unwrap() {
            break status;
        }
        if waited.elapsed() > Duration::from_secs(60) {
            let _ = agent.kill();
            panic!("the agent kept waiting on the registry after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut agent.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("authenticate failed: interrupted by a signal"), "{err}");
    assert!(!err.contains("is not in store"), "an interruption is not a missing bundle: {err}");
    assert!(!w.state.join("deploy/dev/web/current").exists(), "nothing was applied");
}
