//! The state repository on real git servers, as teams run them: Debian's nginx with
//! `git http-backend` over HTTPS (a private CA, basic auth) and Debian's sshd, both on loopback.
//! People push with git's credential helpers, agents with a token in `BATON_GIT_TOKEN`, CI
//! runners from shallow clones or with `--state URL`; the server can die mid-push.

use std::path::Path;

use baton_tests::{GIT_USER, git, ssh_key, stderr, stdout};

use crate::remote::{Team, Via};

/// The page an agent applied for dev under `root`.
fn applied_page(root: &Path) -> String {
    fs_err::read_to_string(root.join("deploy/dev/web/current/html/index.html")).unwrap_or_default()
}

/// Over HTTPS: a person promotes through git's credential helper; an agent on a shallow clone
/// with only a token follows the remote, and applies a promotion made from another clone on its
/// next pass; nothing it prints holds the token.
#[test]
fn over_https_people_use_credential_helpers_and_agents_a_token() {
    let t = Team::served(Via::Https);
    let server = t.server.as_ref().unwrap();
    t.enter_dev_ok(&t.w.state, &[]);
    assert!(t.remote_log()[0].starts_with("promote web 1.4.2 to dev"), "{:?}", t.remote_log());

    // The agent's host: a shallow clone, no credential helper, a token in the environment.
    let host = t.w.dir().join("agent-host");
    let bare = format!("file://{}", t.remote.display());
    git(t.w.dir(), &["clone", "-q", "--depth", "1", &bare, host.to_str().unwrap()]);
    git(&host, &["remote", "set-url", "origin", &t.url]);
    let agent_home = t.w.dir().join("agent-home");
    fs_err::create_dir_all(&agent_home).unwrap();
    let agent = |token: Option<&str>| {
        let mut command = t.baton(&host);
        command
            .args(["agent", "--env", "dev", "--once"])
            .env("HOME", &agent_home)
            .env("BATON_APPLIED_DIR", t.w.dir().join("applied"));
        match token {
            Some(token) => command.env("BATON_GIT_TOKEN", token),
            None => command.env_remove("BATON_GIT_TOKEN"),
        };
        command.output().unwrap()
    };
    // Without the token the fetch is refused, and says which remote; the pass still judges
    // what the clone has, so it never applies what it could not check.
    let refused = agent(Some("not-the-token"));
    let said = stderr(&refused) + &stdout(&refused);
    assert!(said.contains(&format!("127.0.0.1:{}", server.https_port)), "{said}");
    assert!(!said.contains("not-the-token"), "a token is never printed: {said}");

    let first = agent(Some(&server.token));
    let said = stderr(&first) + &stdout(&first);
    assert!(first.status.success(), "{said}");
    assert!(!said.contains(&server.token), "a token is never printed: {said}");
    assert_eq!(git(&host, &["rev-parse", "--is-shallow-repository"]).trim(), "false");
    assert!(applied_page(&host).contains("</body>"), "the agent applied dev");
    // Another clone promotes a new release; the agent's next pass applies it.
    let digest = t.w.build("1.5.0", |_| {});
    let from = t.w.build_store();
    let laptop = t.clone("laptop");
    t.ok(
        &laptop,
        &[
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
        ],
    );
    let second = agent(Some(&server.token));
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(applied_page(&host).contains("release 1.5.0"), "{}", applied_page(&host));
    // The token reached git through the environment only: not in the clone's configuration.
    let config = fs_err::read_to_string(host.join(".git/config")).unwrap();
    assert!(!config.contains(&server.token) && !config.contains(GIT_USER), "{config}");
}

/// Over SSH with a key of the team's own: promote, approve and promote again from two clones;
/// the remote's history is linear, and a fresh clone audits clean.
#[test]
fn over_ssh_two_clones_promote_and_a_fresh_clone_audits_clean() {
    let t = Team::served(Via::Ssh);
    let b = t.clone("b");
    t.enter_dev_ok(&t.w.state, &[]);
    let said = t.ok(&b, &["promote", "web", "--to", "staging", "--as", "ci"]);
    assert!(said.contains("behind `origin/main`: brought up to date first"), "{said}");
    t.ok(&t.w.state, &["approve", "web", "--env", "prod", "--as", "alice"]);
    t.ok(&b, &["approve", "web", "--env", "prod", "--as", "bob"]);
    t.ok(&t.w.state, &["promote", "web", "--to", "prod", "--as", "ci"]);
    t.linear_and_audits_clean(&t.clone("fresh"));
}

/// `--state URL` for every command: readers read a mirror, writers a cached clone they push
/// from; a second writer on another machine (another cache) sees the first one's work.
#[test]
fn every_command_takes_the_state_as_a_url() {
    let t = Team::served(Via::Https);
    let elsewhere = t.w.dir().join("runner");
    fs_err::create_dir_all(&elsewhere).unwrap();
    let from = t.w.build_store();
    let url = t.url.clone();
    let promote = [
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        &t.w.web,
        "--from-store",
        &from,
        "--as",
        "ci",
        "--state",
        &url,
    ];
    let said = t.ok(&elsewhere, &promote);
    assert!(said.contains("dev"), "{said}");
    assert!(t.remote_log()[0].starts_with("promote web 1.4.2 to dev"), "{:?}", t.remote_log());
    // Another machine: its own cache, so its own clone of the URL.
    let other = t.w.dir().join("other-runner");
    fs_err::create_dir_all(&other).unwrap();
    let output = t
        .baton(&other)
        .args(["promote", "web", "--to", "staging", "--as", "ci", "--state", &url])
        .env("BATON_CACHE", other.join("cache"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(t.remote_log()[0].starts_with("promote web 1.4.2 to staging"), "{:?}", t.remote_log());
    // The first machine's next read is current.
    let rows: Vec<baton_view::StatusRow> = baton_tests::stdout_typed(
        &t.run(&elsewhere, &["status", "--output", "json", "--state", &url]),
    );
    assert!(rows.iter().any(|r| r.environment.to_string() == "staging"), "{rows:?}");
    let history = t.run(&elsewhere, &["history", "staging", "--state", &url]);
    assert!(stdout(&history).contains("1.4.2"), "{}", stdout(&history));
    // A machine with no credential for the remote: the error says how to see what git gets,
    // and which settings baton shares with it.
    let stranger = t.w.dir().join("stranger");
    fs_err::create_dir_all(&stranger).unwrap();
    let output = t
        .baton(&stranger)
        .args(["status", "--state", &url])
        .env("HOME", &stranger)
        .env("BATON_CACHE", stranger.join("cache"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("git ls-remote {url}")) && err.contains("BATON_GIT_TOKEN"),
        "{err}"
    );
    // --no-push with a URL would leave the commit where nobody sees it: refused, with the fix.
    let output = t.run(&elsewhere, &[&promote[..], &["--no-push"]].concat());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("git clone"), "{}", stderr(&output));
    // Nothing the caches keep holds the token: it came from git's credential helper.
    for cache in [t.w.cache(), other.join("cache")] {
        assert!(!holds(&cache, &t.server.as_ref().unwrap().token), "{}", cache.display());
    }
}

/// True when a file under `dir`, or a name in it, holds `needle`.
fn holds(dir: &Path, needle: &str) -> bool {
    fs_err::read_dir(dir).unwrap().any(|entry| {
        let entry = entry.unwrap();
        let path = entry.path();
        entry.file_name().to_string_lossy().contains(needle)
            || if entry.file_type().unwrap().is_dir() {
                holds(&path, needle)
            } else {
                fs_err::read(&path)
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            }
    })
}

/// The git server dies while a push is in flight: the command fails clearly, the remote has
/// the old head or the new one, and the same command run again completes.
#[test]
fn a_git_server_killed_mid_push_leaves_the_old_head_or_the_new_and_a_rerun_completes() {
    let t = Team::served(Via::Https);
    let server = t.server.as_ref().unwrap();
    let before = git(&t.remote, &["rev-parse", "main"]);
    // A pre-receive hook that waits for the test: the push is in flight until the server dies.
    let fifo = t.w.dir().join("in-flight");
    let hook = t.remote.join("hooks/pre-receive");
    fs_err::write(
        &hook,
        format!("#!/bin/sh\ncat > /dev/null\necho started > {}\nsleep 60\n", fifo.display()),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&hook).status().unwrap();
    let running = t
        .baton(&t.w.state)
        .args(["promote", "web", "--to", "dev", "--digest", &t.w.web])
        .args(["--from-store", &t.w.build_store(), "--as", "ci"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !fifo.exists() {
        assert!(started.elapsed().as_secs() < 60, "the push never reached the hook");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.stop();
    let output = running.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("cannot publish") || err.contains("rejected"), "{err}");
    let after = git(&t.remote, &["rev-parse", "main"]);
    assert_eq!(after, before, "the remote kept its head: the hook never let the push land");
    // The local branch did not move either: the commit was never published.
    assert_eq!(git(&t.w.state, &["rev-parse", "main"]), before);
    // Nor did dev's version tag: the bytes are there, but the tag moves only once the pin that
    // names them is committed.
    let index = t.w.state.join("stores/dev/web/index.json");
    let index = fs_err::read_to_string(index).unwrap_or_default();
    assert!(!index.contains("\"1.4.2\""), "{index}");
    fs_err::remove_file(&hook).unwrap();
    server.restart();
    t.enter_dev_ok(&t.w.state, &[]);
    assert!(t.remote_log()[0].starts_with("promote web 1.4.2 to dev"), "{:?}", t.remote_log());
    t.audits_clean(&t.w.state);
}

/// Sixteen CI runners, each with its own HOME and clone, promote sixteen bundles at once over
/// HTTPS; then eight promote one bundle with eight digests at once. The state repository
/// requires signed commits and each runner signs with the key its git configuration names, as
/// CI does. Every pin lands exactly once, the history is linear, a fresh clone audits clean, and
/// plain `git verify-commit` accepts every commit baton made through the retries.
#[test]
fn sixteen_runners_promote_at_once_over_https() {
    let t = Team::served(Via::Https);
    let server = t.server.as_ref().unwrap();
    let from = t.w.build_store();
    // Sixteen bundles: web renamed, one digest each.
    let names: Vec<String> = (0..16).map(|i| format!("svc-{i:02}")).collect();
    let digests: Vec<String> = names.iter().map(|name| t.w.build_named(name, "1.0.0")).collect();
    // Each bundle has its parameters in dev, like web's.
    for name in &names {
        let params = t.w.state.join("params/dev");
        fs_err::copy(params.join("web.toml"), params.join(format!("{name}.toml"))).unwrap();
    }
    // Signatures required from here on: the runners' key is listed for `ci`.
    let keys = t.w.dir().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (key, public) = ssh_key(&keys, "ci");
    fs_err::create_dir_all(t.w.state.join(".baton")).unwrap();
    let allowed = t.w.state.join(".baton/allowed_signers");
    fs_err::write(&allowed, format!("ci {public}\n")).unwrap();
    t.git(&t.w.state, &["add", "-A"]);
    t.git(&t.w.state, &["commit", "-q", "-m", "params of sixteen services, signatures required"]);
    t.git(&t.w.state, &["push", "-q"]);
    let race = |runs: Vec<(String, String)>| {
        let children: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(i, (bundle, digest))| {
                let clone = t.clone(&format!("runner-{}-{i}", runs.len()));
                let home = clone.join(".runner-home");
                server.home_with_credentials(&home);
                let config = home.join(".gitconfig");
                let credentials = fs_err::read_to_string(&config).unwrap();
                let signing =
                    format!("[user]\n\tsigningkey = {}\n[gpg]\n\tformat = ssh\n", key.display());
                fs_err::write(&config, format!("{credentials}{signing}")).unwrap();
                t.baton(&clone)
                    .args(["promote", bundle, "--to", "dev", "--digest", digest])
                    .args(["--from-store", &from, "--as", "ci"])
                    .env("HOME", &home)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
        }
    };
    race(names.iter().cloned().zip(digests.iter().cloned()).collect());
    let log = t.remote_log();
    for name in &names {
        let landed = log.iter().filter(|s| s.starts_with(&format!("promote {name} "))).count();
        assert_eq!(landed, 1, "{name} landed {landed} times: {log:?}");
    }
    let versions: Vec<String> = (0..8).map(|i| format!("3.0.{i}")).collect();
    let web: Vec<String> = versions.iter().map(|v| t.w.build(v, |_| {})).collect();
    race(web.iter().map(|d| ("web".to_owned(), d.clone())).collect());
    let log = t.remote_log();
    for version in &versions {
        let landed =
            log.iter().filter(|s| s.starts_with(&format!("promote web {version} to dev"))).count();
        assert_eq!(landed, 1, "{version} landed {landed} times: {log:?}");
    }
    let fresh = t.clone("fresh");
    t.linear_and_audits_clean(&fresh);
    let signed = t.git(&fresh, &["log", "--format=%H", "--grep=^Baton-Action:", "main"]);
    let signed: Vec<&str> = signed.lines().collect();
    assert_eq!(signed.len(), 16 + 8, "one commit per racing promotion: {signed:?}");
    let allowed_signers = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    for commit in signed {
        t.git(&fresh, &["-c", "gpg.format=ssh", "-c", &allowed_signers, "verify-commit", commit]);
    }
}
