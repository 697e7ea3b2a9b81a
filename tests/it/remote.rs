//! A state repository shared through a remote, as a team has it: clones that fetch their
//! upstream before they read, fast-forward when behind, publish each baton commit with a lease
//! on the head they read, and retry when another clone won. The remote is a real bare
//! repository; the clones are real `git clone`s.

use std::path::{Path, PathBuf};

use baton_tests::{GitServer, World, baton, git, stderr, stdout};

/// The shared fixture's state repository, its stores made absolute (shared by every clone on
/// this machine), pushed to a bare remote it then tracks: a path, or a real git server's URL.
pub(crate) struct Team {
    pub(crate) w: World,
    /// The bare repository, on this machine's disk.
    pub(crate) remote: PathBuf,
    /// How clones reach it: its path, or an `https://` or `ssh://` URL.
    pub(crate) url: String,
    /// What every git and baton of the team runs with (HOME with credentials, CA, SSH command).
    env: Vec<(String, String)>,
    /// The server, when there is one; it stops with the team.
    pub(crate) server: Option<GitServer>,
}

/// How a [`Team`] reaches its remote.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Https,
    Ssh,
}

impl Team {
    fn new() -> Team {
        let w = World::new();
        let remote = w.dir().join("remote.git");
        git(w.dir(), &["init", "-q", "--bare", "-b", "main", remote.to_str().unwrap()]);
        let url = remote.display().to_string();
        Team::seeded(Team { w, remote, url, env: Vec::new(), server: None })
    }

    /// A team whose remote is served by a real git server, over HTTPS (basic auth, git's
    /// `store` credential helper in the team's HOME) or SSH (a key of its own).
    pub(crate) fn served(via: Via) -> Team {
        let w = World::new();
        let server = GitServer::start();
        let remote = server.bare("state.git");
        let url = match via {
            Via::Https => server.https_url("state.git"),
            Via::Ssh => server.ssh_url("state.git"),
        };
        let home = w.dir().join("home");
        server.home_with_credentials(&home);
        let env = server.client_env(&home);
        Team::seeded(Team { w, remote, url, env, server: Some(server) })
    }

    /// Makes the stores absolute, then pushes the state to the remote and tracks it.
    fn seeded(t: Team) -> Team {
        let stores = t.w.dir().join("stores");
        let pipeline = t.w.state.join("baton.toml");
        let text = fs_err::read_to_string(&pipeline)
            .unwrap()
            .replace("store = \"oci:stores/", &format!("store = \"oci:{}/", stores.display()));
        fs_err::write(&pipeline, text).unwrap();
        t.w.commit("stores every clone shares");
        t.git(&t.w.state, &["remote", "add", "origin", &t.url]);
        t.git(&t.w.state, &["push", "-q", "-u", "origin", "main"]);
        t
    }

    /// Real `git ARGS` in `dir` with the team's environment; panics on failure.
    pub(crate) fn git(&self, dir: &Path, args: &[&str]) -> String {
        baton_tests::git_with(dir, args, &self.env)
    }

    /// A new clone of the remote, tracking its `main`.
    pub(crate) fn clone(&self, name: &str) -> PathBuf {
        let dir = self.w.dir().join(name);
        self.git(self.w.dir(), &["clone", "-q", &self.url, dir.to_str().unwrap()]);
        dir
    }

    /// `baton` in `dir`, with the team's environment, the fixture's cache and secret.
    pub(crate) fn baton(&self, dir: &Path) -> std::process::Command {
        let mut command = baton_tests::baton_process(dir);
        command
            .env("BATON_CACHE", self.w.cache())
            .env("WEB_TLS_KEY", baton_tests::SECRET)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// `baton ARGS` in `clone`.
    pub(crate) fn run(&self, clone: &Path, args: &[&str]) -> std::process::Output {
        self.baton(clone).args(args).output().unwrap()
    }

    pub(crate) fn ok(&self, clone: &Path, args: &[&str]) -> String {
        let output = self.run(clone, args);
        assert!(
            output.status.success(),
            "baton {args:?} in {}: {}",
            clone.display(),
            stderr(&output)
        );
        stderr(&output) + &stdout(&output)
    }

    /// `baton promote web --to dev` of the fixture's digest from the build store, as `ci`, with
    /// `extra` arguments, in `clone`.
    pub(crate) fn enter_dev(&self, clone: &Path, extra: &[&str]) -> std::process::Output {
        let from = self.w.build_store();
        let mut args =
            vec!["promote", "web", "--to", "dev", "--digest", &self.w.web, "--from-store", &from];
        args.extend(["--as", "ci"]);
        args.extend(extra);
        self.run(clone, &args)
    }

    /// [`Team::enter_dev`], which must succeed.
    pub(crate) fn enter_dev_ok(&self, clone: &Path, extra: &[&str]) {
        let output = self.enter_dev(clone, extra);
        assert!(
            output.status.success(),
            "promote to dev in {}: {}",
            clone.display(),
            stderr(&output)
        );
    }

    /// The remote's `main` is linear (baton makes no merge commits), and `dir` audits clean.
    pub(crate) fn linear_and_audits_clean(&self, dir: &Path) {
        let parents = git(&self.remote, &["log", "--format=%p", "main"]);
        assert!(parents.lines().all(|p| !p.contains(' ')), "no merge commits: {parents}");
        self.audits_clean(dir);
    }

    /// `baton audit` in `dir` finds nothing.
    pub(crate) fn audits_clean(&self, dir: &Path) {
        let audit = self.run(dir, &["audit"]);
        assert_eq!(audit.status.code(), Some(0), "{}{}", stdout(&audit), stderr(&audit));
    }

    /// The remote's `main`, as `git log --format=%s` lines.
    pub(crate) fn remote_log(&self) -> Vec<String> {
        let log = git(&self.remote, &["log", "--format=%s", "main"]);
        log.lines().map(str::to_owned).collect()
    }
}

#[test]
fn clones_promote_through_one_remote_and_a_fresh_clone_audits_clean() {
    let t = Team::new();
    let a = t.w.state.clone();
    let b = t.clone("b");
    // A promotes: the commit is on the remote at once.
    t.enter_dev_ok(&a, &[]);
    assert!(t.remote_log()[0].starts_with("promote web 1.4.2 to dev"), "{:?}", t.remote_log());
    // The pin names the store it came from as it means on any machine: relative to the work
    // tree, never this runner's absolute path.
    let pin = fs_err::read_to_string(a.join("state/dev/web.toml")).unwrap();
    assert!(pin.contains("source_store = \"oci:../build\""), "{pin}");
    let message = git(&a, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Baton-From: oci:../build"), "{message}");
    assert!(!pin.contains(&*t.w.dir().to_string_lossy()) && !message.contains("/tmp"), "{pin}");
    // B is behind: it is brought up to date first, says so, and publishes on top.
    let said = t.ok(&b, &["promote", "web", "--to", "staging", "--as", "ci"]);
    assert!(said.contains("behind `origin/main`: brought up to date first"), "{said}");
    assert!(t.remote_log()[0].starts_with("promote web 1.4.2 to staging"), "{:?}", t.remote_log());
    // A approves twice and promotes to prod, catching up with B's work on the way.
    t.ok(&a, &["approve", "web", "--env", "prod", "--as", "alice"]);
    t.ok(&a, &["approve", "web", "--env", "prod", "--as", "bob"]);
    t.ok(&a, &["promote", "web", "--to", "prod", "--as", "ci"]);
    // Linear, and every clone agrees.
    assert_eq!(git(&a, &["rev-parse", "HEAD"]), git(&t.remote, &["rev-parse", "main"]));
    t.linear_and_audits_clean(&t.clone("c"));
    assert_eq!(git(&a, &["status", "--porcelain"]), "");
}

#[test]
fn no_push_commits_locally_and_the_next_write_publishes_it_too() {
    let t = Team::new();
    let a = t.w.state.clone();
    let before = t.remote_log().len();
    t.enter_dev_ok(&a, &["--no-push"]);
    assert_eq!(t.remote_log().len(), before, "nothing was pushed");
    t.ok(&a, &["promote", "web", "--to", "staging", "--as", "ci"]);
    let log = t.remote_log();
    assert!(log[0].starts_with("promote web 1.4.2 to staging"), "{log:?}");
    assert!(log[1].starts_with("promote web 1.4.2 to dev"), "{log:?}");
}

#[test]
fn local_commits_that_are_not_batons_are_never_published_by_baton() {
    let t = Team::new();
    let a = t.w.state.clone();
    fs_err::write(a.join("NOTES.md"), "by hand\n").unwrap();
    t.w.commit("notes by hand");
    let output = t.enter_dev(&a, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("has commits that are not on `origin/main` and not baton's"), "{err}");
    assert!(err.contains("git log origin/main..main"), "{err}");
    assert!(!t.remote_log()[0].contains("promote"), "nothing was published");
}

/// Eight clones promote one bundle with eight digests at once: each lands exactly once, in
/// some order, on a linear history, and a fresh clone audits clean.
#[test]
fn eight_clones_racing_on_one_remote_each_land_once() {
    let t = Team::new();
    let from = t.w.build_store();
    let digests: Vec<String> = (0..8).map(|i| t.w.build(&format!("3.0.{i}"), |_| {})).collect();
    let clones: Vec<PathBuf> = (0..8).map(|i| t.clone(&format!("runner-{i}"))).collect();
    let children: Vec<_> = clones
        .iter()
        .zip(&digests)
        .map(|(clone, digest)| {
            std::process::Command::new(baton_tests::baton_bin())
                .current_dir(clone)
                .args(["promote", "web", "--to", "dev", "--digest", digest, "--from-store", &from])
                .args(["--as", "ci", "--output", "json"])
                .env("HOME", clone.join(".home"))
                .env("NO_COLOR", "1")
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
    let log = t.remote_log();
    for (i, _) in digests.iter().enumerate() {
        let landed =
            log.iter().filter(|s| s.starts_with(&format!("promote web 3.0.{i} to dev"))).count();
        assert_eq!(landed, 1, "3.0.{i} landed {landed} times: {log:?}");
    }
    t.linear_and_audits_clean(&t.clone("fresh"));
}

/// An agent on a clone follows the remote: a promotion made from another clone is applied by
/// the next pass. A detached checkout (as CI makes) is read; writing from it is refused.
#[test]
fn an_agent_on_a_clone_follows_the_remote_and_a_detached_checkout_is_read() {
    let t = Team::new();
    let agent = t.clone("agent-host");
    t.enter_dev_ok(&t.w.state, &[]);
    let applied = baton(&agent)
        .args(["agent", "--env", "dev", "--once"])
        .env("BATON_CACHE", t.w.cache())
        .env("BATON_APPLIED_DIR", t.w.dir().join("applied"))
        .env("WEB_TLS_KEY", baton_tests::SECRET)
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(agent.join("deploy/dev/web/current/html/index.html").is_file());

    let ci = t.clone("ci-checkout");
    let head = git(&ci, &["rev-parse", "HEAD"]).trim().to_owned();
    git(&ci, &["checkout", "-q", "--detach", &head]);
    let status = t.run(&ci, &["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout(&status).contains("dev"), "{}", stdout(&status));
    let output = t.run(&ci, &["promote", "web", "--to", "staging", "--as", "ci"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("detached HEAD"), "{}", stderr(&output));
}

/// History as a team makes it, with real `git pull --rebase` and `git pull --no-rebase` after a
/// rejected push: the rebase of work never published is no rewrite, a merge that adds nothing
/// of its own is no hand edit, and a merge that changes a pin by hand is still found.
#[test]
fn a_rebase_of_unpublished_work_and_a_merge_that_adds_nothing_audit_clean() {
    let t = Team::new();
    let b = t.clone("b");
    let c = t.clone("c");
    let hand = |dir: &Path, file: &str| {
        fs_err::write(dir.join(file), "by hand\n").unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", &format!("{file} by hand")]);
    };
    hand(&b, "notes-b.md");
    hand(&c, "notes-c.md");
    t.enter_dev_ok(&t.w.state, &[]);
    // B's push is rejected; B rebases its unpublished commit and pushes.
    let rejected =
        std::process::Command::new("git").args(["push", "-q"]).current_dir(&b).output().unwrap();
    assert!(!rejected.status.success(), "the push must be rejected: the remote moved");
    git(&b, &["pull", "-q", "--rebase"]);
    git(&b, &["push", "-q"]);
    let audit = t.run(&b, &["audit", "--output", "json"]);
    let report: baton_audit::Report = baton_tests::stdout_typed(&audit);
    assert!(
        !report.findings.iter().any(|f| f.check == baton_audit::Check::Rewrite),
        "{:?}",
        report.findings
    );
    assert_eq!(audit.status.code(), Some(0), "{:?}", report.findings);
    // C's push is rejected too; C merges (a merge commit that adds nothing under state/).
    git(&c, &["pull", "-q", "--no-rebase", "--no-edit"]);
    git(&c, &["push", "-q"]);
    t.audits_clean(&t.clone("fresh"));
    // A merge that changes a pin by hand is found.
    let d = t.clone("d");
    hand(&d, "notes-d.md");
    t.ok(&t.w.state, &["promote", "web", "--to", "staging", "--as", "ci"]);
    git(&d, &["pull", "-q", "--no-rebase", "--no-commit"]);
    let pin = d.join("state/staging/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap().replace("by = \"ci\"", "by = \"mallory\"");
    fs_err::write(&pin, text).unwrap();
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-q", "--no-edit"]);
    let audit = t.run(&d, &["audit", "--output", "json"]);
    assert_eq!(audit.status.code(), Some(4));
    let report: baton_audit::Report = baton_tests::stdout_typed(&audit);
    assert!(
        report.findings.iter().any(|f| f.check == baton_audit::Check::HandEdit),
        "{:?}",
        report.findings
    );
}

/// A shallow clone (as CI checks out) with an upstream fetches the whole history first, so the
/// applier can judge its pins and the audit has no `shallow` finding.
#[test]
fn a_shallow_clone_with_an_upstream_fetches_the_history_it_needs() {
    let t = Team::new();
    t.enter_dev_ok(&t.w.state, &[]);
    t.ok(&t.w.state, &["promote", "web", "--to", "staging", "--as", "ci"]);
    let shallow = t.w.dir().join("shallow");
    let url = format!("file://{}", t.remote.display());
    git(t.w.dir(), &["clone", "-q", "--depth", "1", &url, shallow.to_str().unwrap()]);
    assert_eq!(git(&shallow, &["rev-parse", "--is-shallow-repository"]).trim(), "true");
    t.audits_clean(&shallow);
    assert_eq!(git(&shallow, &["rev-parse", "--is-shallow-repository"]).trim(), "false");
    let applied = baton(&shallow)
        .args(["apply", "staging"])
        .env("BATON_CACHE", t.w.cache())
        .env("WEB_TLS_KEY", baton_tests::SECRET)
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", stderr(&applied));
}
