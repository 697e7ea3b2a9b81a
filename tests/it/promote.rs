//! The promoter end to end: real bundles, a real git state repository, real `git` reading what
//! baton wrote, and every refusal the issue names.

use std::path::Path;

use baton_model::{Action, Trailers};
use baton_promote::{Approval, Initialised, Promotion};
use baton_tests::{
    World, baton, build_json, git, registry, run, signed_commit, ssh_key, stderr, stdout,
    stdout_typed, unique_path,
};
use baton_view::{BundleDiff, GateName, HistoryEntry, Signature, StatusRow};

/// The promoter's fixture is the shared one; web enters dev as `ci@example.com`.
fn setup() -> World {
    World::new()
}

fn enter_dev(w: &World, digest: &str) -> Promotion {
    w.pin_as("dev", digest, "ci@example.com")
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

#[test]
fn a_bundle_moves_unchanged_from_dev_to_prod_through_the_gates() {
    let s = setup();
    let dev = enter_dev(&s, &s.web);
    assert_eq!((dev.digest.to_string(), dev.action), (s.web.clone(), Action::Promote));
    assert!(!dev.no_op);
    let copy = dev.copy.as_ref().unwrap();
    assert_eq!(copy.blobs_mounted, 2, "layouts on one file system are linked: {dev:?}");

    let staging: Promotion =
        s.typed(&["promote", "web", "--to", "staging", "--as", "ci@example.com"]);
    assert_eq!(staging.digest.to_string(), s.web);
    assert_eq!(staging.from.as_ref().map(ToString::to_string).as_deref(), Some("dev"));
    assert_eq!(staging.gates[0].gate, GateName::Upstream);

    // prod needs two approvals by principals other than the promoter.
    let refused = s.fails(&["promote", "web", "--to", "prod", "--as", "ci@example.com"], 3);
    assert!(refused.contains("approvals: 0 of 2"), "{refused}");
    assert!(refused.contains("baton approve web --env prod"), "{refused}");
    s.ok(&["approve", "web", "--env", "prod", "--as", "ci@example.com"]);
    s.ok(&[
        "approve",
        "web",
        "--env",
        "prod",
        "--as",
        "alice@example.com",
        "--comment",
        "looks good",
    ]);
    let refused = s.fails(&["promote", "web", "--to", "prod", "--as", "ci@example.com"], 3);
    assert!(refused.contains("1 of 2 counted (alice@example.com)"), "{refused}");
    assert!(refused.contains("the promoter cannot approve their own promotion"), "{refused}");
    let again: Approval =
        s.typed(&["approve", "web", "--env", "prod", "--as", "alice@example.com"]);
    assert!(again.no_op);
    s.ok(&["approve", "web", "--env", "prod", "--as", "bob@example.com"]);
    let prod: Promotion = s.typed(&["promote", "web", "--to", "prod", "--as", "ci@example.com"]);
    assert_eq!(prod.digest.to_string(), s.web);
    assert!(!prod.no_op);

    // A rerun of a finished promotion is a no-op.
    let rerun: Promotion = s.typed(&["promote", "web", "--to", "prod", "--as", "ci@example.com"]);
    assert!(rerun.no_op);

    // The same bytes are in every store.
    for env in ["dev", "staging", "prod"] {
        let reference = format!("oci:stores/{env}/web@{}", s.web);
        let output = baton(&s.state).args(["bundle", "verify", &reference]).output().unwrap();
        assert!(output.status.success(), "{env}: {}", stdout(&output));
    }

    // status, history and diff come from git.
    let rows: Vec<StatusRow> = s.typed(&["status"]);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.digest.to_string() == s.web && r.version == "1.4.2"));
    let elsewhere = run(s.tmp.path(), &["status", "--state", "state", "--output", "json"]);
    assert_eq!(stdout_typed::<Vec<StatusRow>>(&elsewhere).len(), 3, "--state names the repository");
    let human = stdout(&s.baton(&["status"]));
    assert!(human.starts_with("BUNDLE  dev"), "{human}");
    let history: Vec<HistoryEntry> = s.typed(&["history", "prod", "web"]);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from.as_deref(), Some("staging"));
    assert_eq!(history[0].by.as_str(), "ci@example.com");
    assert_eq!(history[0].signature, Signature::Unsigned);
    let diff: Vec<BundleDiff> = s.typed(&["diff", "staging", "prod"]);
    assert!(diff[0].same_digest);
    let changed: Vec<&str> = diff[0].params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(changed, ["server_name"]);
    // Values are JSON values, not TOML text.
    assert_eq!(diff[0].params[0].a, Some(serde_json::json!("staging.shop.example.com")));
    assert_eq!(diff[0].params[0].b, Some(serde_json::json!("shop.example.com")));

    // What baton wrote is ordinary git: trailers, a clean work tree, a sound repository.
    let log = git(&s.state, &["log", "--format=%s%n%b%n--"]);
    assert!(log.contains("promote web 1.4.2 to prod"), "{log}");
    assert!(log.contains("Baton-Action: promote\nBaton-Bundle: web\nBaton-Digest: "), "{log}");
    assert!(log.contains("Baton-From: staging\nBaton-To: prod"), "{log}");
    assert!(log.contains("Baton-Action: approve"), "{log}");
    assert_eq!(git(&s.state, &["status", "--porcelain"]), "");
    git(&s.state, &["fsck", "--strict"]);
    let pin = fs_err::read_to_string(s.state.join("state/prod/web.toml")).unwrap();
    assert!(pin.contains(&format!("digest = \"{}\"", s.web)), "{pin}");
    assert!(pin.contains("from = \"staging\"") && pin.contains("action = \"promote\""), "{pin}");
}

#[test]
fn bad_requests_are_refused_with_what_to_do() {
    let s = setup();
    let from = s.build_store();
    let err = s.fails(&["promote", "web", "--to", "qa", "--as", "ci"], 1);
    assert!(
        err.contains(
            "environment `qa` is not defined in baton.toml (environments: dev, staging, prod)"
        ),
        "{err}"
    );
    let err = s.fails(&["promote", "web", "--to", "dev", "--as", "ci"], 1);
    assert!(err.contains("`dev` is the first environment of the chain"), "{err}");
    let absent = format!("sha256:{}", "0".repeat(64));
    let err = s.fails(
        &[
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &absent,
            "--from-store",
            &from,
            "--as",
            "ci",
        ],
        1,
    );
    assert!(err.contains(&format!("bundle `web` at {absent} is not in store")), "{err}");
    let err = s.fails(&["promote", "web", "--to", "staging", "--as", "ci"], 1);
    assert!(err.contains("`dev` (upstream of `staging`) pins no `web`"), "{err}");
    let err = s.fails(&["promote", "web", "--to", "dev", "--digest", "sha256:abc"], 2);
    assert!(err.contains("sha256:abc"), "{err}");

    // Invalid params: every problem at once, nothing copied, nothing committed.
    fs_err::write(
        s.state.join("params/dev/web.toml"),
        "server_name = \"UPPER.example.com\"\nlisten_port = 70000\nlog_level = \"loud\"\ntls_key = \"hunter2\"\ncolour = \"red\"\n",
    )
    .unwrap();
    commit_all(&s.state, "bad params");
    let head = git(&s.state, &["rev-parse", "HEAD"]);
    let err = s.fails(
        &["promote", "web", "--to", "dev", "--digest", &s.web, "--from-store", &from, "--as", "ci"],
        1,
    );
    for expected in [
        "params/dev/web.toml: the parameters of `web` in `dev` do not satisfy the bundle's schema",
        "`server_name` does not match the pattern",
        "`listen_port` 70000 is above the maximum 65535",
        "`log_level` not one of the allowed values",
        "`tls_key` is a secret and must be a reference",
        "`colour` is not a parameter of this bundle",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    assert!(!err.contains("hunter2"), "a secret's value is never printed: {err}");
    assert_eq!(git(&s.state, &["rev-parse", "HEAD"]), head);
    assert!(!s.state.join("stores/dev").exists(), "nothing is copied before params are valid");
}

#[test]
fn break_glass_only_where_allowed_and_always_recorded() {
    let s = setup();
    enter_dev(&s, &s.web);
    let err =
        s.fails(&["promote", "web", "--to", "staging", "--break-glass", "hotfix", "--as", "ci"], 3);
    assert!(err.contains("break-glass is not allowed for `staging`"), "{err}");
    // prod allows it: no approvals, not even a pin in staging.
    let done = s.break_glass(&s.web, &s.build_store(), "INC-42 outage", "oncall@example.com");
    assert_eq!(done.action, Action::BreakGlass);
    let history: Vec<HistoryEntry> = s.typed(&["history", "prod"]);
    assert_eq!(history[0].action, Action::BreakGlass);
    assert_eq!(history[0].reason.as_deref(), Some("INC-42 outage"));
    let pin = fs_err::read_to_string(s.state.join("state/prod/web.toml")).unwrap();
    assert!(pin.contains("reason = \"INC-42 outage\""), "{pin}");
}

#[test]
fn soak_and_windows_refuse_until_they_hold() {
    let s = setup();
    let pipeline = s.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline).unwrap().replace(
        "target = { kind = \"dir\", path = \"deploy/staging\" }",
        "target = { kind = \"dir\", path = \"deploy/staging\" }\ngates = { soak = \"3s\" }",
    );
    // A window that is closed now: a one-minute window twelve hours away.
    let hour = (jiff_hour() + 12) % 24;
    let text =
        text.replace("Mon-Sun 00:00-24:00 UTC", &format!("Mon-Sun {hour:02}:00-{hour:02}:01 UTC"));
    fs_err::write(&pipeline, text).unwrap();
    commit_all(&s.state, "soak staging, close prod");
    enter_dev(&s, &s.web);
    let err = s.fails(&["promote", "web", "--to", "staging", "--as", "ci"], 3);
    // Seconds are shown under a minute: the pin is zero or one second old here.
    assert!(
        ["0s", "1s"]
            .iter()
            .any(|held| err.contains(&format!("soak: pinned in `dev` for {held}, needs 3s"))),
        "{err}"
    );
    assert!(err.contains("wait "), "{err}");
    // That the soak holds once it has passed is the library's test (agreement.rs, with the
    // clock pinned); here the soak is lifted instead of waited out.
    let text = fs_err::read_to_string(&pipeline).unwrap().replace("gates = { soak = \"3s\" }", "");
    fs_err::write(&pipeline, text).unwrap();
    commit_all(&s.state, "no soak on staging");
    s.ok(&["promote", "web", "--to", "staging", "--as", "ci"]);
    for who in ["alice", "bob"] {
        s.ok(&["approve", "web", "--env", "prod", "--as", who]);
    }
    let err = s.fails(&["promote", "web", "--to", "prod", "--as", "ci"], 3);
    assert!(err.contains("window: outside every window"), "{err}");
    assert!(!err.contains("approvals:"), "only failing gates are listed: {err}");
}

/// The hour of day now, in UTC.
fn jiff_hour() -> u64 {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    seconds / 3600 % 24
}

#[test]
fn the_state_repository_must_be_clean_on_a_branch_and_untouched_by_hand() {
    let s = setup();
    enter_dev(&s, &s.web);

    // Uncommitted edits to what the promotion reads are refused.
    fs_err::write(s.state.join("params/staging/web.toml"), "server_name = \"x.example.com\"\n")
        .unwrap();
    let err = s.fails(&["promote", "web", "--to", "staging", "--as", "ci"], 1);
    assert!(err.contains("uncommitted changes to `params/staging/web.toml`"), "{err}");
    git(&s.state, &["checkout", "--", "params"]);

    // A pin edited and committed by hand is refused, with the change shown.
    let pin = s.state.join("state/dev/web.toml");
    let text = fs_err::read_to_string(&pin)
        .unwrap()
        .replace("by = \"ci@example.com\"", "by = \"mallory\"");
    fs_err::write(&pin, text).unwrap();
    commit_all(&s.state, "tweak");
    let err = s.fails(&["promote", "web", "--to", "staging", "--as", "ci"], 1);
    assert!(err.contains("`state/dev/web.toml` is not what baton last wrote there"), "{err}");
    assert!(err.contains("-by = \"ci@example.com\"\n+by = \"mallory\""), "{err}");
    git(&s.state, &["revert", "--no-edit", "HEAD"]);
    s.ok(&["promote", "web", "--to", "staging", "--as", "ci"]);

    // A detached HEAD is read (as CI checks out), never written.
    let head = git(&s.state, &["rev-parse", "HEAD"]);
    git(&s.state, &["checkout", "-q", "--detach", &head]);
    s.ok(&["status"]);
    let err = s.fails(&["approve", "web", "--env", "prod", "--as", "alice"], 1);
    assert!(err.contains("detached HEAD"), "{err}");
    git(&s.state, &["checkout", "-q", "main"]);

    // No principal: neither --as nor git's user.email.
    let err = s.fails(&["approve", "web", "--env", "prod"], 1);
    assert!(err.contains("no principal"), "{err}");

    // Outside any repository.
    let err = baton(s.tmp.path()).args(["status"]).output().unwrap();
    assert!(stderr(&err).contains("no state repository at or above"), "{}", stderr(&err));
}

#[test]
fn rollback_re_pins_what_the_environment_held_before() {
    let s = setup();
    let newer = s.build_named("web", "1.5.0");
    enter_dev(&s, &s.web);
    enter_dev(&s, &newer);
    let back: Promotion = s.typed(&[
        "rollback",
        "web",
        "--env",
        "dev",
        "--as",
        "oncall",
        "--reason",
        "INC-7: 1.5.0 drops carts",
    ]);
    assert_eq!((back.digest.to_string(), back.action), (s.web.clone(), Action::Rollback));
    assert_eq!(back.previous.map(|d| d.to_string()), Some(newer.clone()));
    let history: Vec<HistoryEntry> = s.typed(&["history", "dev", "web"]);
    let actions: Vec<Action> = history.iter().map(|h| h.action).collect();
    assert_eq!(actions, [Action::Rollback, Action::Promote, Action::Promote]);
    // The reason is in the pin, its commit and every view of it.
    assert_eq!(history[0].reason.as_deref(), Some("INC-7: 1.5.0 drops carts"));
    let pin = fs_err::read_to_string(s.state.join("state/dev/web.toml")).unwrap();
    assert!(pin.contains("reason = \"INC-7: 1.5.0 drops carts\""), "{pin}");
    let log = git(&s.state, &["log", "-1", "--format=%b"]);
    assert!(log.contains("Baton-Reason: INC-7: 1.5.0 drops carts"), "{log}");
    let rows: Vec<StatusRow> = s.typed(&["status"]);
    let dev = rows.iter().find(|r| r.environment.as_str() == "dev").unwrap();
    assert_eq!(
        (dev.action, dev.reason.as_deref()),
        (Action::Rollback, Some("INC-7: 1.5.0 drops carts"))
    );
    let human = stdout(&s.baton(&["status"]));
    assert!(human.contains("[rollback]"), "{human}");
    assert!(human.contains("dev web: rollback by oncall: INC-7: 1.5.0 drops carts"), "{human}");
    // The audit takes a rollback with a reason as it takes one without.
    let audit = s.baton(&["audit"]);
    assert_eq!(audit.status.code(), Some(0), "{}{}", stdout(&audit), baton_tests::stderr(&audit));
    let forward: Promotion =
        s.typed(&["rollback", "web", "--env", "dev", "--to", &newer, "--as", "oncall"]);
    assert_eq!(forward.digest.to_string(), newer);

    // The upstream gate: a digest dev pinned before but not now needs --allow-superseded; one
    // dev never pinned is refused outright.
    let old = ["promote", "web", "--to", "staging", "--digest", &s.web, "--as", "ci"];
    let err = s.fails(&old, 3);
    assert!(
        err.contains("upstream: ")
            && err.contains("was pinned in `dev` before, but `dev` now pins"),
        "{err}"
    );
    assert!(err.contains("--allow-superseded"), "{err}");
    let mut superseded = old.to_vec();
    superseded.push("--allow-superseded");
    let done: Promotion = s.typed(&superseded);
    assert_eq!(done.digest.to_string(), s.web);
    let stranger = s.build_named("web", "9.9.9");
    let from = s.build_store();
    let err = s.fails(
        &[
            "promote",
            "web",
            "--to",
            "staging",
            "--digest",
            &stranger,
            "--from-store",
            &from,
            "--as",
            "ci",
        ],
        3,
    );
    assert!(
        err.contains("was never pinned in `dev`") && err.contains("promote it to `dev` first"),
        "{err}"
    );
    let unknown = format!("sha256:{}", "1".repeat(64));
    let err = s.fails(&["rollback", "web", "--env", "dev", "--to", &unknown, "--as", "oncall"], 1);
    assert!(err.contains("`dev` never pinned `web`"), "{err}");
    let err = s.fails(&["rollback", "web", "--env", "staging", "--as", "oncall"], 1);
    assert!(err.contains("`staging` has no earlier pin of `web`"), "{err}");
}

#[test]
fn sixteen_concurrent_promotions_lose_nothing() {
    let s = setup();
    let mut digests = Vec::new();
    for i in 0..16 {
        let name = format!("web{i}");
        fs_err::write(
            s.state.join(format!("params/dev/{name}.toml")),
            "server_name = \"dev.example.com\"\n",
        )
        .unwrap();
        digests.push((name.clone(), s.build_named(&name, "1.0.0")));
    }
    commit_all(&s.state, "params for sixteen bundles");
    let from = s.build_store();
    let children: Vec<_> = digests
        .iter()
        .map(|(name, digest)| {
            std::process::Command::new(baton_tests::baton_bin())
                .current_dir(&s.state)
                .args([
                    "promote",
                    name,
                    "--to",
                    "dev",
                    "--digest",
                    digest,
                    "--from-store",
                    &from,
                    "--as",
                    "ci",
                    "--output",
                    "json",
                ])
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
    let rows: Vec<StatusRow> = s.typed(&["status"]);
    assert_eq!(rows.len(), 16, "{rows:?}");
    for (name, digest) in &digests {
        let pin = fs_err::read_to_string(s.state.join(format!("state/dev/{name}.toml"))).unwrap();
        assert!(pin.contains(digest.as_str()), "{name}: {pin}");
    }
    // Linear history, one well-formed commit per promotion, and git agrees with all of it.
    let parents = git(&s.state, &["log", "--format=%p"]);
    assert!(parents.lines().all(|p| !p.contains(' ')), "no merges: {parents}");
    let promotions = git(&s.state, &["log", "--format=%b", "--grep=^Baton-Action: promote"]);
    assert_eq!(promotions.matches("Baton-Action: promote").count(), 16);
    assert_eq!(git(&s.state, &["status", "--porcelain"]), "");
    git(&s.state, &["fsck", "--strict"]);
}

#[test]
fn promotion_across_registry_repositories() {
    let s = setup();
    let host = registry();
    let base = unique_path("promote");
    let pipeline = format!(
        "[[environment]]\nname = \"dev\"\nstore = \"{host}/{base}/dev\"\n\n[[environment]]\nname = \"staging\"\nstore = \"{host}/{base}/staging\"\n\n[[environment]]\nname = \"prod\"\nstore = \"{host}/{base}/prod\"\ngates = {{ approvals = 1 }}\n"
    );
    fs_err::write(s.state.join("baton.toml"), pipeline).unwrap();
    commit_all(&s.state, "registry stores");
    let dev = enter_dev(&s, &s.web);
    assert_eq!(dev.copy.as_ref().unwrap().blobs_uploaded, 2, "{dev:?}");
    let staging: Promotion = s.typed(&["promote", "web", "--to", "staging", "--as", "ci"]);
    let copy = staging.copy.as_ref().unwrap();
    assert_eq!(copy.blobs_mounted, 2, "within one registry blobs are mounted: {staging:?}");
    assert_eq!(copy.bytes_uploaded, 0);
    s.ok(&["approve", "web", "--env", "prod", "--as", "alice"]);
    let prod: Promotion = s.typed(&["promote", "web", "--to", "prod", "--as", "ci"]);
    assert_eq!(prod.digest.to_string(), s.web);
    let output = baton(&s.state)
        .args(["bundle", "verify", &format!("{host}/{base}/prod/web@{}", s.web)])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
}

#[test]
fn init_writes_a_pipeline_that_promotes() {
    let tmp = tempfile::tempdir().unwrap();
    let done: Initialised = stdout_typed(&run(
        tmp.path(),
        &["init", "repo", "--as", "ci", "--local", "--output", "json"],
    ));
    assert_eq!(done.files[0], "baton.toml");
    let repo = tmp.path().join("repo");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert!(git(&repo, &["log", "--format=%s"]).contains("baton init"));
    let err = stderr(&run(tmp.path(), &["init", "repo", "--as", "ci", "--local"]));
    assert!(err.contains("already has a baton.toml"), "{err}");
    let status = run(&repo, &["status", "--output", "json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout_typed::<Vec<StatusRow>>(&status).is_empty(), "{}", stdout(&status));
    // The first line names the schema for editors; the file it names is baton.toml's schema,
    // and the pipeline validates against it (Python's jsonschema, Debian's).
    let pipeline = fs_err::read_to_string(repo.join("baton.toml")).unwrap();
    assert!(pipeline.starts_with("#:schema ./.baton/baton.schema.json\n"), "{pipeline}");
    let schema = fs_err::read_to_string(repo.join(".baton/baton.schema.json")).unwrap();
    let committed =
        fs_err::read_to_string(baton_tests::repo_root().join("schemas/baton.schema.json"));
    assert_eq!(schema, committed.unwrap());
    let check = "import json, sys, tomllib, jsonschema\njsonschema.validate(tomllib.load(open(sys.argv[1], 'rb')), json.load(open(sys.argv[2])))";
    let output = std::process::Command::new("/usr/bin/python3")
        .args(["-c", check])
        .arg(repo.join("baton.toml"))
        .arg(repo.join(".baton/baton.schema.json"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `init` writes stores every machine can reach (`--store-prefix REGISTRY/PATH`), or local
/// layouts only when told `--local`; without either it says what to choose (exit 2).
#[test]
fn init_asks_where_the_stores_live() {
    let tmp = tempfile::tempdir().unwrap();
    let neither = run(tmp.path(), &["init", "repo", "--as", "ci"]);
    assert_eq!(neither.status.code(), Some(2), "{}", stderr(&neither));
    assert!(stderr(&neither).contains("--store-prefix"), "{}", stderr(&neither));
    assert!(stderr(&neither).contains("--local"), "{}", stderr(&neither));
    assert!(!tmp.path().join("repo/baton.toml").exists());
    let host = registry();
    let prefix = format!("{host}/{}", unique_path("init"));
    let done = run(tmp.path(), &["init", "shared", "--as", "ci", "--store-prefix", &prefix]);
    assert!(done.status.success(), "{}", stderr(&done));
    let pipeline = fs_err::read_to_string(tmp.path().join("shared/baton.toml")).unwrap();
    for env in ["dev", "staging", "prod"] {
        assert!(pipeline.contains(&format!("store = \"{prefix}/{env}\"")), "{pipeline}");
    }
    assert!(!pipeline.contains("store = \"oci:"), "{pipeline}");
    let bad = run(tmp.path(), &["init", "bad", "--as", "ci", "--store-prefix", "team"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("must be a registry and path"), "{}", stderr(&bad));
}

#[test]
fn signed_state_repositories_accept_only_listed_keys_and_git_verifies_them() {
    let s = setup();
    let keys = s.tmp.path().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (ci, ci_pub) = ssh_key(&keys, "ci");
    let (alice, alice_pub) = ssh_key(&keys, "alice");
    let (bob, bob_pub) = ssh_key(&keys, "bob");
    let (mallory, _) = ssh_key(&keys, "mallory");
    let signers = format!(
        "ci@example.com {ci_pub}\nalice@example.com {alice_pub}\nbob@example.com {bob_pub}\n"
    );
    // An approval recorded before signing was required: it will not count afterwards.
    s.ok(&["approve", "web", "--env", "prod", "--digest", &s.web, "--as", "carol@example.com"]);
    fs_err::create_dir_all(s.state.join(".baton")).unwrap();
    fs_err::write(s.state.join(".baton/allowed_signers"), &signers).unwrap();
    commit_all(&s.state, "require signed promotions");

    let from = s.build_store();
    let dev = [
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        &s.web,
        "--from-store",
        &from,
        "--as",
        "ci@example.com",
    ];
    let err = s.fails(&dev, 1);
    assert!(err.contains("requires signed commits"), "{err}");
    let with_key = |key: &Path| {
        let mut args = dev.to_vec();
        args.extend(["--sign-key", key.to_str().unwrap()]);
        s.baton(&args)
    };
    let err = stderr(&with_key(&mallory));
    assert!(err.contains("is not listed in .baton/allowed_signers"), "{err}");
    let err = stderr(&with_key(&alice));
    assert!(err.contains("is listed for alice@example.com, not for `ci@example.com`"), "{err}");
    assert!(with_key(&ci).status.success());

    let ci_key = ci.to_str().unwrap();
    s.ok(&["promote", "web", "--to", "staging", "--as", "ci@example.com", "--sign-key", ci_key]);
    s.ok(&[
        "approve",
        "web",
        "--env",
        "prod",
        "--as",
        "alice@example.com",
        "--sign-key",
        alice.to_str().unwrap(),
    ]);
    let err = s.fails(
        &[
            "promote",
            "web",
            "--to",
            "prod",
            "--as",
            "ci@example.com",
            "--sign-key",
            ci.to_str().unwrap(),
        ],
        3,
    );
    let carol = "`carol@example.com` (not signed by a key listed for `carol@example.com`)";
    assert!(err.contains(&format!("1 of 2 counted (alice@example.com); not counted: {carol}")));
    // A key given as its .pub file means the private key beside it, as git's user.signingkey does.
    let bob_pub_path = format!("{}.pub", bob.display());
    s.ok(&[
        "approve",
        "web",
        "--env",
        "prod",
        "--as",
        "bob@example.com",
        "--sign-key",
        &bob_pub_path,
    ]);
    let promote =
        ["promote", "web", "--to", "prod", "--as", "ci@example.com", "--sign-key", ci_key];
    let prod: Promotion = s.typed(&promote);
    assert_eq!(prod.digest.to_string(), s.web);
    let history: Vec<HistoryEntry> = s.typed(&["history", "prod"]);
    assert_eq!(history[0].signature, Signature::Good);

    // Plain git verifies every commit baton wrote, with the same allowed-signers file.
    let allowed = s.state.join(".baton/allowed_signers");
    let commits = git(&s.state, &["log", "--format=%H", "--grep=^Baton-Action:"]);
    assert_eq!(commits.lines().count(), 6);
    // All but the oldest, carol's approval from before signing was required.
    for commit in commits.lines().filter(|c| *c != commits.lines().last().unwrap()) {
        git(
            &s.state,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
                "verify-commit",
                commit,
            ],
        );
    }
    git(&s.state, &["fsck", "--strict"]);
}

/// A hostile allowed-signers line of many stars cannot stall the promoter: principals are
/// matched without backtracking, so the refusal comes at once.
#[test]
fn a_pattern_of_many_stars_in_allowed_signers_is_matched_without_backtracking() {
    let s = setup();
    let keys = s.tmp.path().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (key, public) = ssh_key(&keys, "k");
    let hostile = format!("{}b", "a*".repeat(30));
    fs_err::create_dir_all(s.state.join(".baton")).unwrap();
    fs_err::write(s.state.join(".baton/allowed_signers"), format!("{hostile} {public}\n")).unwrap();
    commit_all(&s.state, "a hostile signer line");
    let principal = "a".repeat(100);
    let from = s.build_store();
    let err = s.fails(
        &[
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &s.web,
            "--from-store",
            &from,
            "--as",
            &principal,
            "--sign-key",
            key.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains(&format!("is listed for {hostile}, not for `{principal}`")), "{err}");
}

/// A rebuilt version moves its tag; a rollback to the earlier bytes moves the tag in the
/// environment's store back, so a history made only of baton commands audits clean.
#[test]
fn a_rollback_points_the_version_tag_at_the_digest_it_pins() {
    let w = World::new();
    let first = w.web.clone();
    w.pin("dev", &first);
    let rebuilt = w.build("1.4.2", |dir| {
        fs_err::write(dir.join("html/index.html"), "rebuilt without a version bump\n").unwrap();
    });
    assert_ne!(rebuilt, first);
    w.pin("dev", &rebuilt);
    let tagged = || {
        let store = format!("oci:{}", w.state.join("stores/dev").display());
        w.typed::<baton_build::InspectReport>(&["bundle", "inspect", &format!("{store}/web:1.4.2")])
            .digest
            .to_string()
    };
    assert_eq!(tagged(), rebuilt);
    w.ok(&["rollback", "web", "--env", "dev", "--to", &first, "--as", "oncall"]);
    assert_eq!(tagged(), first, "the tag follows the pin back");
    let report = w.baton(&["audit"]);
    assert_eq!(report.status.code(), Some(0), "{}", stdout(&report));
}

/// A repository that requires signatures, `signers` its allowed-signers lines, with web promoted
/// to dev and staging as `ci@example.com` signed with `ci`.
fn signed_to_staging(w: &World, signers: &str, ci: &str) {
    fs_err::create_dir_all(w.state.join(".baton")).unwrap();
    fs_err::write(w.state.join(".baton/allowed_signers"), signers).unwrap();
    w.commit("require signed commits");
    let from = w.build_store();
    let as_ci = ["--as", "ci@example.com", "--sign-key", ci];
    let mut dev = vec!["promote", "web", "--to", "dev", "--digest", &w.web, "--from-store", &from];
    dev.extend(as_ci);
    w.ok(&dev);
    let mut staging = vec!["promote", "web", "--to", "staging"];
    staging.extend(as_ci);
    w.ok(&staging);
}

/// Where signatures are required, four eyes are counted by key: one key listed for two
/// principals counts once, and an approval signed with the promoter's key never counts. The
/// audit weighs the same approvals the same way.
#[test]
fn approvals_count_distinct_keys_other_than_the_promoters() {
    let w = World::new();
    let keys = w.dir().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (ci, ci_pub) = ssh_key(&keys, "ci");
    let (shared, shared_pub) = ssh_key(&keys, "shared");
    let (dave, dave_pub) = ssh_key(&keys, "dave");
    let (ci, shared, dave) =
        (ci.to_str().unwrap(), shared.to_str().unwrap(), dave.to_str().unwrap());
    signed_to_staging(
        &w,
        &format!(
            "ci@example.com,carol@example.com {ci_pub}\nalice@example.com,bob@example.com {shared_pub}\ndave@example.com {dave_pub}\n"
        ),
        ci,
    );
    for (who, key) in [("alice", shared), ("bob", shared), ("carol", ci)] {
        let principal = format!("{who}@example.com");
        w.ok(&["approve", "web", "--env", "prod", "--as", &principal, "--sign-key", key]);
    }
    let prod = ["promote", "web", "--to", "prod", "--as", "ci@example.com", "--sign-key", ci];
    let err = w.fails(&prod, 3);
    assert!(err.contains("1 of 2 counted (alice@example.com)"), "{err}");
    assert!(
        err.contains(
            "`bob@example.com` (signed with the same key as `alice@example.com`'s approval)"
        ),
        "{err}"
    );
    assert!(err.contains("`carol@example.com` (signed with the promoter's own key"), "{err}");
    w.ok(&["approve", "web", "--env", "prod", "--as", "dave@example.com", "--sign-key", dave]);
    w.ok(&prod);
    let output = w.baton(&["audit", "--output", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: baton_audit::Report = serde_json::from_slice(&output.stdout).unwrap();
    let promotion = report
        .timeline
        .iter()
        .find(|e| e.environment.as_str() == "prod" && e.action == Action::Promote)
        .unwrap();
    let weighed: Vec<(&str, bool)> =
        promotion.approvals.iter().map(|a| (a.by.as_str(), a.counted)).collect();
    assert_eq!(
        weighed,
        [
            ("alice@example.com", true),
            ("bob@example.com", false),
            ("carol@example.com", false),
            ("dave@example.com", true)
        ]
    );
}

/// `valid-before` retires a key: the promoter refuses to sign with it, and an approval commit
/// signed with it after its time (made by hand, as a thief of the key would) does not count.
#[test]
fn a_retired_key_neither_signs_nor_approves() {
    let w = World::new();
    let keys = w.dir().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (ci, ci_pub) = ssh_key(&keys, "ci");
    let (alice, alice_pub) = ssh_key(&keys, "alice");
    let (bob, bob_pub) = ssh_key(&keys, "bob");
    let (ci, alice) = (ci.to_str().unwrap(), alice.to_str().unwrap());
    // Bob's key was retired at the new year.
    signed_to_staging(
        &w,
        &format!(
            "ci@example.com {ci_pub}\nalice@example.com {alice_pub}\nbob@example.com valid-before=\"20260101Z\" {bob_pub}\n"
        ),
        ci,
    );
    w.ok(&["approve", "web", "--env", "prod", "--as", "alice@example.com", "--sign-key", alice]);
    let bob_approves = [
        "approve",
        "web",
        "--env",
        "prod",
        "--as",
        "bob@example.com",
        "--sign-key",
        bob.to_str().unwrap(),
    ];
    let err = w.fails(&bob_approves, 1);
    assert!(err.contains("is not listed in .baton/allowed_signers"), "{err}");
    // Bob's approval forged by hand, signed with the retired key, as baton would have written it.
    let web = w.web.clone();
    let dir = w.state.join(format!("approvals/prod/web/{}", web.trim_start_matches("sha256:")));
    let alice_file = fs_err::read_to_string(dir.join("alice@example.com.toml")).unwrap();
    fs_err::write(
        dir.join("bob@example.com.toml"),
        alice_file.replace("alice@example.com", "bob@example.com"),
    )
    .unwrap();
    let trailers = Trailers {
        action: Action::Approve,
        bundle: "web".parse().unwrap(),
        digest: web.parse().unwrap(),
        from: None,
        to: "prod".parse().unwrap(),
        version: None,
        by: "bob@example.com".parse().unwrap(),
        params: None,
        previous: None,
        reason: None,
    };
    git(&w.state, &["add", "-A"]);
    signed_commit(&w.state, &trailers.message("approve web for prod"), Some(&bob));
    let err =
        w.fails(&["promote", "web", "--to", "prod", "--as", "ci@example.com", "--sign-key", ci], 3);
    assert!(err.contains("1 of 2 counted (alice@example.com)"), "{err}");
    assert!(
        err.contains("`bob@example.com` (not signed by a key listed for `bob@example.com`)"),
        "{err}"
    );
}

/// 32 promotions of one bundle to one environment at once, each with another digest of the same
/// version: every one ends with exit 0 (one commit each, in some order), none sees a false
/// "uncommitted changes", and the version tag in the store names the digest the pin names.
#[test]
fn thirty_two_concurrent_promotions_of_one_bundle_keep_the_tag_and_the_pin_together() {
    let s = setup();
    let digests: Vec<String> = (0..32)
        .map(|i| {
            let dir = s.tmp.path().join(format!("src-race-{i}"));
            baton_tests::copy_tree(&baton_tests::repo_root().join("examples/web"), &dir);
            fs_err::write(dir.join("html/race.txt"), format!("{i}\n")).unwrap();
            let text = fs_err::read_to_string(dir.join("bundle.toml"))
                .unwrap()
                .replace("version = \"1.4.2\"", "version = \"2.0.0\"");
            fs_err::write(dir.join("bundle.toml"), text).unwrap();
            build_json(s.tmp.path(), &dir, &s.tmp.path().join("build"), &[]).digest.to_string()
        })
        .collect();
    let from = s.build_store();
    let children: Vec<_> = digests
        .iter()
        .map(|digest| {
            std::process::Command::new(baton_tests::baton_bin())
                .current_dir(&s.state)
                .args(["promote", "web", "--to", "dev", "--digest", digest, "--from-store", &from])
                .args(["--as", "ci", "--output", "json"])
                .env("NO_COLOR", "1")
                .env("HOME", s.tmp.path().join("home"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert!(output.status.success(), "{err}");
        assert!(!err.contains("uncommitted changes"), "{err}");
    }
    let promotions = git(&s.state, &["log", "--format=%b", "--grep=^Baton-Action: promote"]);
    assert_eq!(promotions.matches("Baton-Action: promote").count(), 32);
    assert_eq!(git(&s.state, &["status", "--porcelain"]), "");
    let pin = fs_err::read_to_string(s.state.join("state/dev/web.toml")).unwrap();
    let pinned = digests
        .iter()
        .find(|d| pin.contains(&format!("digest = \"{d}\"")))
        .expect("one of them is pinned");
    let listed: Vec<baton_build::ListedBundle> =
        s.typed(&["bundle", "list", "--store", "oci:stores/dev"]);
    let tagged: Vec<String> = listed
        .iter()
        .filter(|l| l.tag.as_deref() == Some("2.0.0"))
        .map(|l| l.digest.to_string())
        .collect();
    assert_eq!(tagged, std::slice::from_ref(pinned), "the tag names the pinned digest");
    let audit = s.baton(&["audit", "--output", "json"]);
    let report: baton_audit::Report = stdout_typed(&audit);
    assert!(
        !report.findings.iter().any(|f| f.check == baton_audit::Check::Tag),
        "{:?}",
        report.findings
    );
}

/// Another git holds `index.lock` (a `git commit -a` waiting on its editor) while baton
/// promotes: the pin is committed and the command says the work tree was not updated (exit 0);
/// the next baton command brings the work tree and index up to date instead of calling the
/// pin an uncommitted change.
#[test]
fn a_commit_while_another_git_holds_the_index_lock_is_finished_by_the_next_command() {
    let s = setup();
    fs_err::write(s.state.join("notes.txt"), "one\n").unwrap();
    commit_all(&s.state, "notes");
    fs_err::write(s.state.join("notes.txt"), "two\n").unwrap();
    let release = s.tmp.path().join("release-the-editor");
    let editor = s.tmp.path().join("editor.sh");
    fs_err::write(
        &editor,
        format!(
            "#!/bin/sh\ni=0\nwhile [ ! -e {} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\necho 'notes by hand' > \"$1\"\n",
            release.display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let git_commit = std::process::Command::new("git")
        .args(["-c", "user.name=Hand", "-c", "user.email=hand@example.com", "commit", "-a", "-q"])
        .current_dir(&s.state)
        .env("GIT_EDITOR", &editor)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = s.state.join(".git/index.lock");
    let waited = std::time::Instant::now();
    while !lock.exists() {
        assert!(waited.elapsed().as_secs() < 60, "git never took index.lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let from = s.build_store();
    let output = s.baton(&[
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        &s.web,
        "--from-store",
        &from,
        "--as",
        "ci",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("committed, but the work tree and index were not updated"), "{err}");
    assert!(err.contains("git reset --keep HEAD"), "{err}");
    let promoted = git(&s.state, &["log", "-1", "--format=%s"]);
    assert!(promoted.starts_with("promote web 1.4.2 to dev"), "{promoted}");
    fs_err::write(&release, "").unwrap();
    let hand = git_commit.wait_with_output().unwrap();
    assert!(!hand.status.success(), "git's own commit must lose the race: the branch moved");
    // The index lags the branch by baton's own commit only.
    let status = git(&s.state, &["status", "--porcelain"]);
    assert!(status.contains("state/dev/web.toml"), "{status}");
    let newer = s.build_named("web", "1.5.0");
    let output = s.baton(&[
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        &newer,
        "--from-store",
        &from,
        "--as",
        "ci",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let status = git(&s.state, &["status", "--porcelain"]);
    assert_eq!(status.trim(), "M notes.txt", "only the hand change is left: {status}");
    let pin = fs_err::read_to_string(s.state.join("state/dev/web.toml")).unwrap();
    assert!(pin.contains(&newer), "{pin}");
}

/// A symbolic link on the way to a file baton writes (`state/dev` pointing elsewhere) is
/// refused, as git refuses to write beyond one: nothing is committed, nothing written there.
#[test]
fn a_symlinked_directory_in_the_work_tree_is_never_written_through() {
    let s = setup();
    s.pin("dev", &s.web);
    let elsewhere = s.tmp.path().join("elsewhere");
    fs_err::create_dir_all(&elsewhere).unwrap();
    fs_err::remove_dir_all(s.state.join("state/dev")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.state.join("state/dev")).unwrap();
    let before = git(&s.state, &["rev-parse", "HEAD"]);
    let newer = s.build_named("web", "1.5.0");
    let from = s.build_store();
    let output = s.baton(&[
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        &newer,
        "--from-store",
        &from,
        "--as",
        "ci",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link at `state/dev`"), "{err}");
    assert!(err.contains("does not write beyond a symbolic link"), "{err}");
    assert_eq!(git(&s.state, &["rev-parse", "HEAD"]), before, "nothing was committed");
    assert_eq!(fs_err::read_dir(&elsewhere).unwrap().count(), 0, "nothing was written there");
}
