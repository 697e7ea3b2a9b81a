//! The applier end to end: real bundles rendered into real directories served by a real nginx,
//! exec targets running real programs, drift found and healed, secrets kept out of every output,
//! and `kill -9` at random moments never leaving a partial release behind `current`.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use baton_apply::{Applied, ApplyAction, PassReport};
use baton_target::read_record;
use baton_tests::{Nginx, SECRET, World, copy_tree, git, nginx_bin, stderr, stdout, stdout_typed};
use serde_json::Value;

/// The applier's fixture is the shared one, with the paths of the dev target.
trait DevTarget {
    fn pin_dev(&self, digest: &str);
    fn current(&self) -> PathBuf;
}

impl DevTarget for World {
    fn pin_dev(&self, digest: &str) {
        self.pin("dev", digest);
    }

    fn current(&self) -> PathBuf {
        self.state.join("deploy/dev/web/current")
    }
}

/// What the first bundle's apply did.
fn action(w: &World, args: &[&str]) -> ApplyAction {
    w.typed::<Vec<Applied>>(args)[0].action
}

/// A secret that templates use: `conf/tls.key` renders the `tls_key` parameter.
fn with_secret_file(dir: &Path) {
    fs_err::write(dir.join("conf/tls.key"), "{{ params.tls_key }}\n").unwrap();
    let manifest = dir.join("bundle.toml");
    let text = fs_err::read_to_string(&manifest)
        .unwrap()
        .replace("render = [\"conf/*.conf\"]", "render = [\"conf/*.conf\", \"conf/*.key\"]");
    fs_err::write(&manifest, text).unwrap();
}

#[test]
fn a_dir_target_served_by_nginx_follows_apply_and_rollback() {
    let w = World::new();
    let first = w.build("1.4.2", |_| {});
    let second = w.build("1.5.0", |_| {});
    w.pin_dev(&first);
    let applied: Vec<Applied> = w.typed(&["apply", "dev"]);
    assert_eq!(applied[0].action, ApplyAction::Applied);
    assert_eq!(applied[0].digest.to_string(), first);

    let nginx = Nginx::start(&w.tmp.path().join("nginx"), &w.current().join("html"));
    assert!(nginx.get("/").contains("release 1.4.2"));
    let config = fs_err::read_to_string(w.current().join("conf/nginx.conf")).unwrap();
    assert!(
        config.contains("server_name dev.shop.example.com;")
            && config.contains("for environment dev"),
        "{config}"
    );
    assert!(config.contains(&format!("({first})")), "{config}");

    w.pin_dev(&second);
    assert_eq!(action(&w, &["apply", "dev"]), ApplyAction::Applied);
    assert!(nginx.get("/").contains("release 1.5.0"));
    assert_eq!(action(&w, &["apply", "dev"]), ApplyAction::Unchanged);

    // Rollback, then apply: a swap back to the release still on disk, with no fetch at all.
    w.ok(&["rollback", "web", "--env", "dev", "--as", "oncall"]);
    fs_err::remove_dir_all(w.cache()).unwrap();
    assert_eq!(action(&w, &["apply", "dev", "web"]), ApplyAction::Swapped);
    assert!(!w.cache().exists(), "a swap back fetches nothing");
    assert!(nginx.get("/").contains("release 1.4.2"));
    let record = read_record(&w.state.join("deploy/dev/web/applied.json")).unwrap().unwrap();
    assert_eq!(record.digest.to_string(), first);
    assert_eq!(git(&w.state, &["status", "--porcelain"]), "", "targets are ignored by git");
}

#[test]
fn drift_is_found_healed_or_only_reported() {
    let w = World::new();
    w.pin_dev(&w.build("1.4.2", |_| {}));
    w.ok(&["apply", "dev"]);
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(0));
    fs_err::write(w.current().join("html/index.html"), "defaced\n").unwrap();
    fs_err::write(w.current().join("html/extra.html"), "extra\n").unwrap();
    fs_err::remove_file(w.current().join("html/home.html")).unwrap();
    let report = w.fails(&["drift", "dev"], 4);
    for line in [
        "web in dev: changed html/index.html",
        "web in dev: added html/extra.html",
        "web in dev: removed html/home.html",
    ] {
        assert!(report.contains(line), "{line}: {report}");
    }
    let only = w.fails(&["agent", "--env", "dev", "--once", "--no-heal"], 4);
    assert!(only.contains("drift web (1 changed, 1 added, 1 removed"), "{only}");
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(4), "--no-heal changes nothing");
    let healed: Vec<PassReport> = w.typed(&["agent", "--env", "dev", "--once"]);
    assert_eq!(healed[0].action, ApplyAction::Healed);
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(0));
    assert!(!w.current().join("html/extra.html").exists());
}

/// `current` replaced by a directory (a copy of the release, so its files match the record):
/// drift names it with the next step, and the agent moves it aside and puts the link back.
#[test]
fn a_current_replaced_by_a_directory_is_found_and_healed() {
    let w = World::new();
    w.pin_dev(&w.build("1.4.2", |_| {}));
    w.ok(&["apply", "dev"]);
    let release = fs_err::read_link(w.current()).unwrap();
    let release_dir = w.state.join("deploy/dev/web").join(&release);
    fs_err::remove_file(w.current()).unwrap();
    copy_tree(&release_dir, &w.current());
    let report = w.fails(&["drift", "dev"], 4);
    assert!(report.contains("`current` is a directory, not baton's link"), "{report}");
    assert!(report.contains("moves it aside"), "{report}");
    let healed: Vec<PassReport> = w.typed(&["agent", "--env", "dev", "--once"]);
    assert_ne!(healed[0].action, ApplyAction::Unchanged, "{healed:?}");
    assert_eq!(fs_err::read_link(w.current()).unwrap(), release);
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(0));
    let kept: Vec<String> = fs_err::read_dir(w.state.join("deploy/dev/web/.releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "the directory is kept, not deleted: {kept:?}");
}

/// A link inside a target, to a file or a directory outside it, is compared as a link: `drift`
/// and `plan` never read what it points at.
#[test]
fn plan_and_drift_never_follow_a_link_inside_a_target() {
    let w = World::new();
    w.pin_dev(&w.build("1.4.2", |_| {}));
    w.ok(&["apply", "dev"]);
    let outside = w.dir().join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::write(outside.join("index.html"), "OUTSIDE-CONTENT-7f3a\n").unwrap();
    fs_err::write(outside.join("mime.types"), "OUTSIDE-CONTENT-7f3a\n").unwrap();
    // A file replaced by a link, and a directory replaced by a link.
    let current = w.current();
    fs_err::remove_file(current.join("conf/mime.types")).unwrap();
    std::os::unix::fs::symlink(outside.join("mime.types"), current.join("conf/mime.types"))
        .unwrap();
    fs_err::remove_dir_all(current.join("html")).unwrap();
    std::os::unix::fs::symlink(&outside, current.join("html")).unwrap();
    let drift = w.fails(&["drift", "dev"], 4);
    assert!(drift.contains("changed conf/mime.types"), "{drift}");
    assert!(drift.contains("added html"), "{drift}");
    let plan = w.baton(&["plan", "dev"]);
    let shown = stdout(&plan) + &stderr(&plan);
    assert!(plan.status.success(), "{shown}");
    assert!(shown.contains("conf/mime.types"), "{shown}");
    assert!(!shown.contains("OUTSIDE-CONTENT"), "plan read through a link: {shown}");
    assert!(!drift.contains("OUTSIDE-CONTENT"), "{drift}");
}

#[test]
fn a_secret_reaches_only_its_rendered_file() {
    let w = World::new();
    w.pin_dev(&w.build("1.4.2", with_secret_file));
    let mut outputs = String::new();
    for args in [
        vec!["plan", "dev"],
        vec!["apply", "dev", "-vvv"],
        vec!["drift", "dev", "-vvv"],
        vec!["plan", "dev", "--output", "json"],
        vec!["agent", "--env", "dev", "--once", "-vvv"],
        vec!["history", "dev"],
        vec!["status"],
    ] {
        let output = w.baton(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        outputs.push_str(&stdout(&output));
        outputs.push_str(&stderr(&output));
    }
    // The plan of a change names the key file, its content hidden.
    fs_err::write(w.current().join("conf/tls.key"), "old\n").unwrap();
    let plan = stdout(&w.baton(&["plan", "dev"]));
    assert!(plan.contains("Secret file conf/tls.key differs (content hidden)"), "{plan}");
    assert!(!plan.contains("old"), "{plan}");
    outputs.push_str(&plan);
    assert!(!outputs.contains(SECRET), "a secret was printed:\n{outputs}");

    let key = w.current().join("conf/tls.key");
    w.ok(&["apply", "dev"]);
    assert_eq!(fs_err::read_to_string(&key).unwrap(), format!("{SECRET}\n"));
    assert_eq!(fs_err::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    // Nowhere else: not in records, not in the cache, not in git's history.
    let grep = Command::new("grep").args(["-rl", SECRET]).arg(w.tmp.path()).output().unwrap();
    let hits = String::from_utf8_lossy(&grep.stdout).into_owned();
    for hit in hits.lines() {
        assert!(
            hit.ends_with("conf/tls.key") && hit.contains("/deploy/dev/web/.releases/"),
            "the secret landed in {hit}"
        );
    }
    let history = git(&w.state, &["log", "-p", "--all"]);
    assert!(!history.contains(SECRET));
}

#[test]
fn bad_input_is_refused_and_the_running_release_stays() {
    let w = World::new();
    let digest = w.build("1.4.2", |_| {});
    w.pin_dev(&digest);

    // A missing secret source.
    let output = baton_tests::baton(&w.state)
        .args(["apply", "dev"])
        .env("BATON_CACHE", w.cache())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("parameter `tls_key` in params/dev/web.toml: environment variable `WEB_TLS_KEY` is not set"), "{}", stderr(&output));

    w.ok(&["apply", "dev"]);
    let running = fs_err::read_link(w.current()).unwrap();

    // A render error names the file and the line, and nothing changes.
    let broken = w.build("1.6.0", |dir| {
        fs_err::write(dir.join("conf/extra.conf"), "line one\nvalue {{ params.no_such_param }}\n")
            .unwrap();
    });
    // The promotion renders it first (exit 3): it never reaches the target.
    let from = w.build_store();
    let err = w.fails(
        &[
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &broken,
            "--from-store",
            &from,
            "--as",
            "ci",
        ],
        3,
    );
    assert!(err.contains("conf/extra.conf:2 does not render with dev's params"), "{err}");
    assert_eq!(action(&w, &["apply", "dev"]), ApplyAction::Unchanged);
    assert_eq!(fs_err::read_link(w.current()).unwrap(), running);

    // A corrupted cached blob is fetched again, not used.
    w.pin_dev(&digest);
    fs_err::remove_dir_all(w.state.join("deploy")).unwrap();
    let layer_dir = w.cache().join("web/blobs/sha256");
    for entry in fs_err::read_dir(&layer_dir).unwrap() {
        let path = entry.unwrap().path();
        if fs_err::metadata(&path).unwrap().len() > 1000 {
            fs_err::remove_file(&path).unwrap();
            fs_err::write(&path, vec![b'x'; 1500]).unwrap();
        }
    }
    assert_eq!(action(&w, &["apply", "dev"]), ApplyAction::Applied);

    // A target path that cannot be written.
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("path = \"deploy/staging\"", "path = \"blocker/staging\"");
    fs_err::write(&pipeline, text).unwrap();
    fs_err::write(w.state.join("blocker"), "a file where a directory should be\n").unwrap();
    w.commit("staging target under a file");
    w.pin("staging", &digest);
    let err = w.fails(&["apply", "staging"], 1);
    assert!(
        err.contains("cannot write the target") && err.contains("blocker/staging/web"),
        "{err}"
    );

    // The pin names a digest the store does not hold.
    fs_err::remove_dir_all(w.state.join("stores/dev")).unwrap();
    fs_err::remove_dir_all(w.state.join("deploy")).unwrap();
    let err = w.fails(&["apply", "dev"], 1);
    assert!(err.contains(&format!("bundle `web` at {digest} is not in store")), "{err}");
}

/// An exec target in place of staging's target.
fn exec_staging(w: &World, command: &str, check: &str) {
    exec_staging_within(w, command, check, "30s");
}

/// An exec target in place of staging's target, with a timeout.
fn exec_staging_within(w: &World, command: &str, check: &str, timeout: &str) {
    let pipeline = w.state.join("baton.toml");
    let mut env = String::new();
    let lines: Vec<String> = fs_err::read_to_string(&pipeline)
        .unwrap()
        .lines()
        .map(|line| {
            if let Some(name) = line.strip_prefix("name = ") {
                name.trim_matches('"').clone_into(&mut env);
            }
            if env == "staging" && line.starts_with("target = ") {
                format!("target = {{ kind = \"exec\", command = {command}, check = {check}, timeout = \"{timeout}\" }}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    fs_err::write(&pipeline, lines.join("\n") + "\n").unwrap();
    w.commit("exec target for staging");
}

#[test]
fn an_exec_target_runs_its_check_first_and_keeps_the_last_success() {
    let w = World::new();
    // worker_connections 0 passes the (loosened) schema but not `nginx -t`.
    let digest = w.build("1.4.2", |dir| {
        let manifest = dir.join("bundle.toml");
        let text =
            fs_err::read_to_string(&manifest).unwrap().replace("minimum = 16\n", "minimum = 0\n");
        fs_err::write(&manifest, text).unwrap();
    });
    let out = w.tmp.path().join("exec-out");
    exec_staging(
        &w,
        &format!("[\"sh\", \"-c\", \"env | grep ^BATON_ | sort > {}\"]", out.display()),
        &format!(
            "[\"{}\", \"-t\", \"-q\", \"-e\", \"stderr\", \"-p\", \".\", \"-c\", \"conf/nginx.conf\"]",
            nginx_bin()
        ),
    );
    w.pin_dev(&digest);
    w.pin("staging", &digest);
    assert_eq!(action(&w, &["apply", "staging"]), ApplyAction::Applied);
    let seen = fs_err::read_to_string(&out).unwrap();
    assert!(seen.contains("BATON_ENV=staging\nBATON_RENDERED_DIR="), "{seen}");
    assert!(
        seen.contains(&format!("BATON_DIGEST={digest}")) && seen.contains("BATON_VERSION=1.4.2"),
        "{seen}"
    );
    let record_path = w.tmp.path().join("applied/staging/web/applied.json");
    let before = fs_err::read_to_string(&record_path).unwrap();

    fs_err::write(w.state.join("params/staging/web.toml"), "server_name = \"staging.shop.example.com\"\nworker_connections = 0\ntls_key = { from_env = \"WEB_TLS_KEY\" }\n").unwrap();
    w.commit("zero workers");
    w.pin("staging", &digest);
    let err = w.fails(&["apply", "staging"], 1);
    assert!(err.contains("nginx -t -q") && err.contains("failed"), "{err}");
    assert!(err.contains("worker_connections"), "the check's stderr is shown: {err}");
    assert_eq!(
        fs_err::read_to_string(&record_path).unwrap(),
        before,
        "the record keeps the last success"
    );

    // A command that does not exist.
    exec_staging(&w, "[\"no-such-program-baton\"]", "[]");
    fs_err::write(
        w.state.join("params/staging/web.toml"),
        "server_name = \"staging.shop.example.com\"\n",
    )
    .unwrap();
    w.commit("good params");
    w.pin("staging", &digest);
    let err = w.fails(&["apply", "staging"], 1);
    assert!(err.contains("command `no-such-program-baton` cannot be started"), "{err}");
}

#[test]
fn a_second_apply_on_a_busy_target_is_refused() {
    let w = World::new();
    let digest = w.build("1.4.2", |_| {});
    exec_staging(&w, "[\"sleep\", \"3\"]", "[]");
    w.pin_dev(&digest);
    w.pin("staging", &digest);
    let mut first = Command::new(baton_tests::baton_bin())
        .current_dir(&w.state)
        .args(["apply", "staging"])
        .env("BATON_CACHE", w.cache())
        .env("BATON_APPLIED_DIR", w.tmp.path().join("applied"))
        .env("WEB_TLS_KEY", SECRET)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = w.tmp.path().join("applied/staging/web/.lock");
    for _ in 0..100 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let err = w.fails(&["apply", "staging"], 1);
    assert!(err.contains("another apply is running"), "{err}");
    assert!(first.wait().unwrap().success());
}

#[test]
fn kill_9_at_any_moment_leaves_current_at_a_complete_release() {
    let w = World::new();
    // A larger bundle: 3,000 files, so that a kill often lands mid-release.
    let digest = w.build("1.4.2", |dir| {
        for i in 0..3000 {
            let sub = dir.join(format!("html/bulk/{:02}", i % 30));
            fs_err::create_dir_all(&sub).unwrap();
            fs_err::write(
                sub.join(format!("page-{i}.html")),
                format!("<p>page {i}</p>\n").repeat(20),
            )
            .unwrap();
        }
    });
    w.pin_dev(&digest);
    w.ok(&["apply", "dev"]);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    // Rounds whose kill landed mid-apply: the process died by the signal and left a staging
    // directory behind (the next apply cleans it). Without one, the test proved nothing.
    let mut mid_apply = 0;
    for round in 0..50 {
        // A new params value each round, so every apply renders a new release.
        fs_err::write(w.state.join("params/dev/web.toml"), format!("server_name = \"r{round}.example.com\"\ntls_key = {{ from_env = \"WEB_TLS_KEY\" }}\n")).unwrap();
        w.commit(&format!("round {round}"));
        w.pin_dev(&digest);
        let mut child = Command::new(baton_tests::baton_bin())
            .current_dir(&w.state)
            .args(["apply", "dev"])
            .env("BATON_CACHE", w.cache())
            .env("WEB_TLS_KEY", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 400));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let staged = fs_err::read_dir(w.state.join("deploy/dev/web/.releases"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".staging-"));
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) && staged {
            mid_apply += 1;
        }
        // `current` names a complete release whose files match its record.
        let release = fs_err::read_link(w.current()).unwrap();
        let id = release.file_name().unwrap().to_string_lossy().into_owned();
        let record_path = w.state.join("deploy/dev/web/.releases").join(format!("{id}.json"));
        let record = read_record(&record_path).unwrap().unwrap();
        assert!(record.files.len() > 3000, "round {round}: {id}");
        for (path, hash) in record.files.iter().step_by(97) {
            let content = fs_err::read(w.current().join(path))
                .unwrap_or_else(|e| panic!("round {round}: {path}: {e}"));
            assert_eq!(sha256(&content), hash.sha256, "round {round}: {path}");
        }
    }
    assert!(mid_apply >= 1, "no kill landed mid-apply in 50 rounds");
    let done = action(&w, &["apply", "dev"]);
    assert!([ApplyAction::Applied, ApplyAction::Unchanged].contains(&done), "{done}");
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(0));
    let leftovers: Vec<String> = fs_err::read_dir(w.state.join("deploy/dev/web/.releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging directories of killed applies are cleaned up: {leftovers:?}"
    );
    let kept = fs_err::read_dir(w.state.join("deploy/dev/web/.releases"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert!(kept <= 5, "the last 5 releases are kept, not {kept}");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn the_agent_loop_applies_heals_and_stops_on_sigterm() {
    let w = World::new();
    w.pin_dev(&w.build("1.4.2", |_| {}));
    let agent = Command::new(baton_tests::baton_bin())
        .current_dir(&w.state)
        .args(["agent", "--env", "dev", "--interval", "1", "--log-format", "json", "-v"])
        .env("BATON_CACHE", w.cache())
        .env("WEB_TLS_KEY", SECRET)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..200 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the agent did not {what} within 10 s");
    };
    let index = w.current().join("html/index.html");
    wait_for("apply the pin", &|| index.exists());
    fs_err::write(&index, "defaced\n").unwrap();
    wait_for("heal the drift", &|| {
        fs_err::read_to_string(&index).is_ok_and(|t| t.contains("release 1.4.2"))
    });
    let status = Command::new("kill").args(["-TERM", &agent.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = agent.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "SIGTERM ends the loop cleanly");
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();
    let events: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.iter().any(|e| e["action"] == "healed"), "{logs}");
    assert!(events.iter().any(|e| e["message"] == "stopping"), "{logs}");
    assert!(!logs.contains(SECRET));
}

#[test]
fn the_agent_follows_a_remote_state_repository_and_refuses_a_rewrite() {
    let w = World::new();
    // Stores every machine reaches (here: absolute paths); a relative one would be a folder of
    // this clone, which an agent reading the URL cannot see.
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("store = \"oci:stores/", &format!("store = \"oci:{}/stores/", w.state.display()));
    fs_err::write(&pipeline, text).unwrap();
    w.commit("absolute stores");
    w.pin_dev(&w.build("1.4.2", |_| {}));
    let remote = w.tmp.path().join("remote.git");
    git(
        w.tmp.path(),
        &["clone", "-q", "--bare", w.state.to_str().unwrap(), remote.to_str().unwrap()],
    );
    git(&w.state, &["remote", "add", "origin", remote.to_str().unwrap()]);
    let url = format!("file://{}", remote.display());
    // The agent runs from another directory; relative target paths of baton.toml resolve there.
    let site = w.tmp.path().join("site");
    fs_err::create_dir_all(&site).unwrap();
    let agent = |extra: &[&str]| {
        let mut args =
            vec!["agent", "--env", "dev", "--once", "--state", url.as_str(), "--output", "json"];
        args.extend(extra);
        baton_tests::baton(&site)
            .args(&args)
            .env("BATON_CACHE", w.cache())
            .env("WEB_TLS_KEY", SECRET)
            .output()
            .unwrap()
    };
    let first = agent(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout_typed::<Vec<PassReport>>(&first)[0].action, ApplyAction::Applied);
    assert!(site.join("deploy/dev/web/current/html/index.html").exists());

    // A new pin pushed to the remote is fetched and applied by the next pass.
    let newer = w.build("1.5.0", |_| {});
    w.pin_dev(&newer);
    git(&w.state, &["push", "-q", "origin", "main"]);
    let second = agent(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout_typed::<Vec<PassReport>>(&second)[0].action, ApplyAction::Applied);
    let page = fs_err::read_to_string(site.join("deploy/dev/web/current/html/index.html")).unwrap();
    assert!(page.contains("release 1.5.0"));

    // History rewritten on the remote: the mirror refuses to follow.
    git(&w.state, &["reset", "-q", "--hard", "HEAD~1"]);
    git(&w.state, &["commit", "-q", "--allow-empty", "-m", "rewrite"]);
    git(&w.state, &["push", "-q", "--force", "origin", "main"]);
    let third = agent(&[]);
    assert_eq!(third.status.code(), Some(1));
    assert!(stderr(&third).contains("rewrote the history of `main`"), "{}", stderr(&third));
}

/// A hostile template cannot spin or fill the disk: rendering has a step budget and an output
/// limit; either fails naming the file, and the target keeps what it had.
#[test]
fn a_template_that_spins_or_floods_is_stopped_and_the_target_keeps_what_it_has() {
    let w = World::new();
    w.pin_dev(&w.web.clone());
    assert_eq!(action(&w, &["apply", "dev"]), ApplyAction::Applied);
    let kept = fs_err::read_link(w.current()).unwrap();
    for (name, template, says) in [
        (
            "spin",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "steps to render",
        ),
        (
            "flood",
            "{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}",
            "renders more than 67108864 bytes",
        ),
    ] {
        let digest = w.build(&format!("6.6.{}", name.len()), |dir| {
            fs_err::write(dir.join(format!("conf/{name}.conf")), template).unwrap();
        });
        // The promotion renders it with the same limits, and stops it the same way (exit 3).
        let from = w.build_store();
        let args = [
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &digest,
            "--from-store",
            &from,
            "--as",
            "ci",
        ];
        let err = w.fails(&args, 3);
        assert!(err.contains(&format!("conf/{name}.conf")), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert_eq!(fs_err::read_link(w.current()).unwrap(), kept, "{name}: the target moved");
    }
}

/// The render limits are the environment's to set in baton.toml: a template within the defaults
/// fails under tighter ones, naming the file and the setting, and the target keeps what it has.
#[test]
fn render_limits_are_set_per_environment() {
    let w = World::new();
    w.pin_dev(&w.build("1.4.2", |_| {}));
    w.ok(&["apply", "dev"]);
    let kept = fs_err::read_link(w.current()).unwrap();
    // Promoted under the default limits, before dev tightened them: the applier holds the line.
    let looping = w.build("7.0.4", |dir| {
        fs_err::write(dir.join("conf/loop.conf"), "{% for i in range(100000) %}{% endfor %}")
            .unwrap();
    });
    w.pin_dev(&looping);
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline).unwrap().replace(
        "target = { kind = \"dir\", path = \"deploy/dev\" }",
        "target = { kind = \"dir\", path = \"deploy/dev\" }\nrender_limits = { steps = 10000, file_bytes = 4096 }",
    );
    fs_err::write(&pipeline, text).unwrap();
    w.commit("tight render limits in dev");
    let err = w.fails(&["apply", "dev"], 1);
    assert!(err.contains("conf/loop.conf") && err.contains("took more than 10000 steps"), "{err}");
    assert!(err.contains("render_limits"), "{err}");
    assert_eq!(fs_err::read_link(w.current()).unwrap(), kept, "the target moved");
    // Promoted after: the promotion renders under dev's limits and refuses (exit 3).
    let big = w.build("7.0.3", |dir| {
        fs_err::write(dir.join("conf/big.conf"), "{{ 'x' * 5000 }}").unwrap();
    });
    let from = w.build_store();
    let err = w.fails(
        &["promote", "web", "--to", "dev", "--digest", &big, "--from-store", &from, "--as", "ci"],
        3,
    );
    assert!(err.contains("conf/big.conf") && err.contains("renders more than 4096 bytes"), "{err}");
    assert!(err.contains("render_limits"), "{err}");
    assert_eq!(fs_err::read_link(w.current()).unwrap(), kept, "the target moved");
}

/// A command that outlives its timeout is ended with everything it started: its process group
/// gets TERM, then KILL, so no child keeps working after baton reported the failure. Its stderr
/// tail is read as bytes (invalid UTF-8 shown lossily).
#[test]
fn a_timed_out_exec_command_ends_with_its_whole_process_group() {
    let w = World::new();
    let digest = w.build("1.4.2", |_| {});
    let pid_file = w.tmp.path().join("background.pid");
    // The child ignores TERM, as a stubborn tool would; the grandchild runs in the background.
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > {}; printf 'bad \\\\377 byte\\\\n' >&2; wait",
        pid_file.display()
    );
    exec_staging_within(&w, &format!("[\"sh\", \"-c\", \"{script}\"]"), "[]", "1s");
    w.pin_dev(&digest);
    w.pin("staging", &digest);
    let err = w.fails(&["apply", "staging"], 1);
    assert!(err.contains("ran longer than 1s and was killed"), "{err}");
    assert!(err.contains("bad \u{fffd} byte"), "the stderr tail, lossily: {err}");
    let pid = fs_err::read_to_string(&pid_file).unwrap().trim().to_owned();
    let alive = |pid: &str| {
        fs_err::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.split(' ').nth(2).is_none_or(|state| state != "Z"))
    };
    assert!(!alive(&pid), "the background child {pid} outlived the timeout");
}
