//! The auditor end to end: a real history made by baton itself, then tampered with the way an
//! attacker or a careless person would; each tamper is found and named, a clean history gives no
//! finding.

use std::path::{Path, PathBuf};

use baton_audit::{Check, Event, Finding, Report, Severity};
use baton_tests::{World, build_json, example, git, run, signed_commit, stderr, stdout};
use baton_view::GateName;

/// web promoted through dev, staging and prod (two approvals), all by baton: the shared
/// fixture's chain.
fn history() -> World {
    World::chain()
}

/// Runs the audit; returns the exit code and the report, decoded into the auditor's own type.
fn audit(state: &Path) -> (i32, Report) {
    let output = run(state, &["audit", "--output", "json"]);
    (output.status.code().unwrap(), decode(&output))
}

fn decode(output: &std::process::Output) -> Report {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not an audit report ({e}): {}", stdout(output)))
}

fn checks(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            let place = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            format!(
                "{} {}/{}",
                f.check,
                place(f.environment.as_ref().map(ToString::to_string)),
                place(f.bundle.as_ref().map(ToString::to_string))
            )
        })
        .collect()
}

/// The first finding of `check`; panics naming the report when there is none.
fn finding<'r>(report: &'r Report, check: &str) -> &'r Finding {
    report
        .findings
        .iter()
        .find(|f| f.check.as_str() == check)
        .unwrap_or_else(|| panic!("no {check} finding: {report:?}"))
}

/// The timeline entry of the promotion to `env`.
fn event<'r>(report: &'r Report, env: &str) -> &'r Event {
    report
        .timeline
        .iter()
        .find(|e| e.environment.as_str() == env)
        .unwrap_or_else(|| panic!("no {env} event: {report:?}"))
}

fn hand_commit(state: &Path, message: &str) {
    git(state, &["add", "-A"]);
    git(state, &["commit", "-q", "-m", message]);
}

/// Pins in prod, by a hand commit made to look like baton's (trailers and all, signed with
/// `sign_key` when given), the digest staging holds: a promotion baton itself refused.
fn forge_prod_pin(state: &Path, web: &str, sign_key: Option<&Path>) {
    let staged = fs_err::read_to_string(state.join("state/staging/web.toml")).unwrap();
    let params = fs_err::read(state.join("params/prod/web.toml")).unwrap();
    let params_digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&params)))
    };
    let forged = staged
        .replace("environment = \"staging\"", "environment = \"prod\"")
        .replace("from = \"dev\"", "from = \"staging\"")
        .lines()
        .map(|l| {
            if l.starts_with("params_digest") {
                format!("params_digest = \"{params_digest}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    fs_err::create_dir_all(state.join("state/prod")).unwrap();
    fs_err::write(state.join("state/prod/web.toml"), forged).unwrap();
    git(state, &["add", "-A"]);
    let message = format!(
        "promote web 1.4.2 to prod\n\nBaton-Action: promote\nBaton-Bundle: web\nBaton-Digest: {web}\nBaton-From: staging\nBaton-To: prod\nBaton-Version: 1.4.2\nBaton-By: ci\nBaton-Params: {params_digest}\n"
    );
    signed_commit(state, &message, sign_key);
}

/// Touches dev's pin and commits it by hand (with whatever `also` changes) under the message
/// and trailers of baton's own last dev promotion: a hand commit dressed as baton's.
fn recommit_dev_pin_as_baton(state: &Path, also: impl FnOnce()) {
    let trailers = git(state, &["log", "-1", "--format=%B", "--", "state/dev/web.toml"]);
    let pin = state.join("state/dev/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap() + "\n";
    fs_err::write(&pin, text).unwrap();
    also();
    git(state, &["add", "-A"]);
    git(state, &["commit", "-q", "-m", &trailers]);
}

/// A new ed25519 key pair `dir/name` (and `.pub`).
fn keygen(dir: &Path, name: &str) -> PathBuf {
    baton_tests::ssh_key(dir, name).0
}

#[test]
fn a_clean_history_gives_no_finding() {
    let h = history();
    let (code, report) = audit(&h.state);
    assert_eq!(code, 0, "{report:?}");
    assert!(report.findings.is_empty(), "{report:?}");
    assert_eq!(report.summary.len(), 3);
    assert!(report.summary.iter().all(|v| v.findings == 0 && v.digest.to_string() == h.web));
    let human = run(&h.state, &["audit"]);
    let table = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(
        table.lines().any(|l| l.starts_with("prod ") && l.trim_end().ends_with(" ok")),
        "{table}"
    );
}

#[test]
fn a_hand_edit_and_a_digest_that_never_passed_staging_are_found() {
    let h = history();
    // A pin in prod written by hand, naming a digest staging never held.
    let pin = h.state.join("state/prod/web.toml");
    let forged = format!("sha256:{}", "e".repeat(64));
    let text = fs_err::read_to_string(&pin).unwrap().replace(&h.web, &forged);
    fs_err::write(&pin, text).unwrap();
    hand_commit(&h.state, "quick fix");
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4);
    let found = checks(&report);
    assert!(found.contains(&"hand-edit prod/web".to_owned()), "{found:?}");
    assert!(found.contains(&"chain prod/web".to_owned()), "{found:?}");
    // The hand commit is dated now; from tomorrow on, only the present is judged: the forged
    // digest is still not in the store.
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let later = run(&h.state, &["audit", "--since", &tomorrow[..10], "--output", "json"]);
    let found = checks(&decode(&later));
    assert!(!found.contains(&"hand-edit prod/web".to_owned()), "{found:?}");
    assert!(found.contains(&"store prod/web".to_owned()), "{found:?}");
    let found = checks(&audit(&h.state).1);
    assert!(
        found.contains(&"store prod/web".to_owned()),
        "the forged digest is not in the store: {found:?}"
    );
}

#[test]
fn changed_bytes_a_moved_tag_and_params_changed_without_a_promotion_are_found() {
    let h = history();
    // A blob's bytes changed in prod's store (a new file, so the other stores keep theirs).
    let blobs = h.state.join("stores/prod/web/blobs/sha256");
    for entry in fs_err::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let bytes = fs_err::read(&path).unwrap();
        if bytes.len() > 1000 {
            let mut changed = bytes.clone();
            changed[500] ^= 1;
            fs_err::remove_file(&path).unwrap();
            fs_err::write(&path, changed).unwrap();
        }
    }
    // staging's tag moved to another manifest.
    let other = {
        let dir = example(h.tmp.path(), "k8s-app");
        let text = fs_err::read_to_string(dir.join("bundle.toml"))
            .unwrap()
            .replace("name = \"k8s-app\"", "name = \"web\"")
            .replace("version = \"2.0.1\"", "version = \"1.4.2\"");
        fs_err::write(dir.join("bundle.toml"), text).unwrap();
        build_json(h.tmp.path(), &dir, &h.state.join("stores/staging"), &[]).digest.to_string()
    };
    assert_ne!(other, h.web);
    // dev's params changed and committed, without a promotion.
    fs_err::write(h.state.join("params/dev/web.toml"), "server_name = \"elsewhere.example.com\"\n")
        .unwrap();
    hand_commit(&h.state, "tweak dev params");
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4);
    let found = checks(&report);
    assert!(found.contains(&"store prod/web".to_owned()), "{found:?}");
    assert!(found.contains(&"tag staging/web".to_owned()), "{found:?}");
    assert!(found.contains(&"params dev/web".to_owned()), "{found:?}");
    assert!(!found.iter().any(|f| f.starts_with("hand-edit")), "params are not state: {found:?}");
}

#[test]
fn break_glass_is_always_reported_but_does_not_fail() {
    let h = history();
    let from = format!("oci:{}", h.tmp.path().join("build").display());
    let break_glass = || {
        h.break_glass(&h.web, &from, "INC-7", "oncall");
    };
    // The digest is pinned already: a no-op. Break glass for a new params file instead.
    break_glass();
    fs_err::write(
        h.state.join("params/prod/web.toml"),
        "server_name = \"shop.example.com\"\nworker_connections = 2048\n",
    )
    .unwrap();
    hand_commit(&h.state, "prod params");
    break_glass();
    let (code, report) = audit(&h.state);
    assert_eq!(code, 0, "{report:?}");
    let notice = &report.findings[0];
    assert_eq!((notice.check, notice.severity), (Check::BreakGlass, Severity::Notice));
    assert!(notice.found.contains("INC-7"));
}

#[test]
fn unsigned_commits_where_signers_are_required_are_found() {
    let h = history();
    let key = keygen(h.tmp.path(), "ci-key");
    let public = fs_err::read_to_string(key.with_extension("pub")).unwrap();
    fs_err::create_dir_all(h.state.join(".baton")).unwrap();
    fs_err::write(h.state.join(".baton/allowed_signers"), format!("ci {public}")).unwrap();
    hand_commit(&h.state, "require signatures");
    // A signed promotion: no finding. Then an unsigned pin written by hand: a finding.
    fs_err::write(h.state.join("params/dev/web.toml"), "server_name = \"dev2.example.com\"\n")
        .unwrap();
    hand_commit(&h.state, "dev params");
    let from = format!("oci:{}", h.tmp.path().join("build").display());
    let output = run(
        &h.state,
        &[
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &h.web,
            "--from-store",
            &from,
            "--as",
            "ci",
            "--sign-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(audit(&h.state).0, 0);
    let pin = h.state.join("state/dev/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap().replace("by = \"ci\"", "by = \"ci\"\n");
    fs_err::write(&pin, text).unwrap();
    git(&h.state, &["add", "-A"]);
    git(&h.state, &["commit", "-q", "-m", "reformat"]);
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4);
    let found = checks(&report);
    assert!(found.contains(&"signature dev/web".to_owned()), "{found:?}");
}

#[test]
fn gates_are_recomputed_from_history() {
    let w = World::new();
    let (tmp, state) = (&w.tmp, w.state.clone());
    // prod also needs an hour of soak in staging.
    let pipeline = state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("gates = { approvals = 2,", "gates = { soak = \"1h\", approvals = 2,");
    fs_err::write(&pipeline, text).unwrap();
    hand_commit(&state, "prod soaks an hour");
    let web = w.web.clone();
    let from = format!("oci:{}", tmp.path().join("build").display());
    for args in [
        vec![
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            web.as_str(),
            "--from-store",
            from.as_str(),
            "--as",
            "ci",
        ],
        vec!["promote", "web", "--to", "staging", "--as", "ci"],
        vec!["approve", "web", "--env", "prod", "--as", "ci"],
    ] {
        let output = run(&state, &args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    // A promotion to prod that baton refused, written by hand to look like baton's: the only
    // approval is the promoter's own, and the digest entered staging moments before.
    forge_prod_pin(&state, &web, None);
    // An approval added after the fact does not help.
    let output =
        run(&state, &["approve", "web", "--env", "prod", "--digest", &web, "--as", "alice"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (code, report) = audit(&state);
    assert_eq!(code, 4);
    let found = checks(&report);
    assert!(found.contains(&"gate-approvals prod/web".to_owned()), "{found:?}");
    assert!(found.contains(&"gate-soak prod/web".to_owned()), "{found:?}");
    assert!(
        !found.iter().any(|f| f.starts_with("hand-edit")
            || f.starts_with("trailers")
            || f.starts_with("chain")),
        "{found:?}"
    );
    let approvals = finding(&report, "gate-approvals");
    assert_eq!(
        approvals.found,
        "0 of 2 counted; not counted: `ci` (the promoter cannot approve their own promotion)",
        "the promoter's own approval does not count: {approvals:?}"
    );
    // The timeline shows the evidence: ci's approval weighed and refused, alice's not there yet.
    let event = event(&report, "prod");
    let weighed: Vec<(&str, bool)> =
        event.approvals.iter().map(|a| (a.by.as_str(), a.counted)).collect();
    assert_eq!(weighed, [("ci", false)], "{event:?}");
    let soak = event.gates.iter().find(|g| g.gate == GateName::Soak).unwrap();
    assert!(!soak.held, "{event:?}");
}

#[test]
fn a_commit_signed_by_a_key_not_allowed_is_found() {
    let h = history();
    let ci = keygen(h.tmp.path(), "ci-key");
    let mallory = keygen(h.tmp.path(), "mallory-key");
    let public = fs_err::read_to_string(ci.with_extension("pub")).unwrap();
    fs_err::create_dir_all(h.state.join(".baton")).unwrap();
    fs_err::write(h.state.join(".baton/allowed_signers"), format!("ci {public}")).unwrap();
    hand_commit(&h.state, "require signatures");
    // A pin re-committed by hand, signed by git with a key the file does not list.
    let pin = h.state.join("state/dev/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap() + "\n";
    fs_err::write(&pin, text).unwrap();
    git(&h.state, &["add", "-A"]);
    signed_commit(&h.state, "signed, but by whom", Some(&mallory));
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4);
    let signature = finding(&report, "signature");
    assert!(signature.found.contains("not listed"), "{signature:?}");
}

#[test]
fn approvals_count_only_when_signed_by_their_principal_where_signers_are_required() {
    let w = World::new();
    let (tmp, state) = (&w.tmp, w.state.clone());
    let keys: Vec<PathBuf> =
        ["ci", "alice", "bob"].iter().map(|n| keygen(tmp.path(), &format!("{n}-key"))).collect();
    let mut listed = String::new();
    for (name, key) in ["ci", "alice", "bob"].iter().zip(&keys) {
        listed.push_str(name);
        listed.push(' ');
        listed.push_str(&fs_err::read_to_string(key.with_extension("pub")).unwrap());
    }
    fs_err::create_dir_all(state.join(".baton")).unwrap();
    fs_err::write(state.join(".baton/allowed_signers"), listed).unwrap();
    hand_commit(&state, "require signatures");
    let web = w.web.clone();
    let from = format!("oci:{}", tmp.path().join("build").display());
    let key = |i: usize| keys[i].to_str().unwrap().to_owned();
    for args in [
        vec![
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &web,
            "--from-store",
            &from,
            "--as",
            "ci",
            "--sign-key",
            &key(0),
        ],
        vec!["promote", "web", "--to", "staging", "--as", "ci", "--sign-key", &key(0)],
        vec!["approve", "web", "--env", "prod", "--as", "alice", "--sign-key", &key(1)],
    ] {
        let output = run(&state, &args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    // bob's approval, forged: alice's record copied under bob's name, with baton's trailers, but
    // signed with ci's key.
    let dir = state.join(format!("approvals/prod/web/{}", web.trim_start_matches("sha256:")));
    let record =
        fs_err::read_to_string(dir.join("alice.toml")).unwrap().replace("\"alice\"", "\"bob\"");
    fs_err::write(dir.join("bob.toml"), record).unwrap();
    git(&state, &["add", "-A"]);
    let message = format!(
        "approve web for prod\n\nBaton-Action: approve\nBaton-Bundle: web\nBaton-Digest: {web}\nBaton-To: prod\nBaton-By: bob\n"
    );
    signed_commit(&state, &message, Some(&keys[0]));
    // baton itself does not count it.
    let refused =
        run(&state, &["promote", "web", "--to", "prod", "--as", "ci", "--sign-key", &key(0)]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    // A promotion written by hand and signed with ci's key, counting on it.
    forge_prod_pin(&state, &web, Some(&keys[0]));
    let (code, report) = audit(&state);
    assert_eq!(code, 4, "{report:?}");
    let signature = finding(&report, "signature");
    assert!(signature.expected.contains("`bob`"), "{report:?}");
    assert_eq!(
        finding(&report, "gate-approvals").found,
        "1 of 2 counted (alice); not counted: `bob` (not signed by a key listed for `bob`)",
        "{report:?}"
    );
    let found = checks(&report);
    assert!(
        !found.iter().any(|f| f.starts_with("hand-edit") || f.starts_with("chain")),
        "{found:?}"
    );
    let prod = event(&report, "prod");
    let bob = prod.approvals.iter().find(|a| a.by.as_str() == "bob").unwrap();
    assert!(!bob.counted);
    assert!(
        bob.why_not.as_deref().unwrap().contains("not signed by a key listed for `bob`"),
        "{bob:?}"
    );
}

#[test]
fn a_history_rewritten_in_this_clone_is_found() {
    let h = history();
    assert_eq!(audit(&h.state).0, 0);
    // The prod promotion is dropped from the branch, the way a careless `reset` would.
    git(&h.state, &["reset", "-q", "--hard", "HEAD~1"]);
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4, "{report:?}");
    let rewrite = finding(&report, "rewrite");
    let found = &rewrite.found;
    assert!(
        found.contains("reset: moving to HEAD~1") && found.contains("promote web 1.4.2 to prod"),
        "{rewrite:?}"
    );
}

#[test]
fn a_remote_state_is_audited_through_a_read_only_mirror() {
    let h = history();
    let url = format!("file://{}", h.state.display());
    let cache = h.tmp.path().join("cache");
    let output = run(
        &h.state,
        &["audit", "--state", &url, "--cache", cache.to_str().unwrap(), "--output", "json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = decode(&output);
    assert_eq!(report.summary.len(), 3, "{report:?}");
    assert_eq!(report.commit, git(&h.state, &["rev-parse", "HEAD"]));
    // Its stores are `oci:stores/…`, folders of the clone that wrote them: from a URL they are
    // out of reach, a notice each, never looked for in the current directory.
    assert_eq!(report.bundles_verified, 0, "{report:?}");
    let local: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.check == Check::Store && f.severity == Severity::Notice)
        .collect();
    assert_eq!(local.len(), 3, "{report:?}");
    assert!(local[0].found.contains("is a folder inside the clone that wrote it"), "{local:?}");
    // The remote drops its last commit and moves on: the mirror refuses to follow, exit 4.
    let dropped = git(&h.state, &["rev-parse", "HEAD"]);
    git(&h.state, &["reset", "-q", "--hard", "HEAD~1"]);
    fs_err::write(h.state.join("params/dev/web.toml"), "server_name = \"again.example.com\"\n")
        .unwrap();
    hand_commit(&h.state, "moving on");
    let output = run(&h.state, &["audit", "--state", &url, "--cache", cache.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(stderr(&output).contains(&dropped), "{}", stderr(&output));
}

#[test]
fn deep_rehashes_every_digest_ever_pinned() {
    let h = history();
    // A newer web in dev: the first one is no longer pinned there but was.
    let newer = example(&h.tmp.path().join("v2"), "web");
    let text = fs_err::read_to_string(newer.join("bundle.toml"))
        .unwrap()
        .replace("version = \"1.4.2\"", "version = \"1.4.3\"");
    fs_err::write(newer.join("bundle.toml"), text).unwrap();
    fs_err::write(newer.join("CHANGES"), "1.4.3: a newer one\n").unwrap();
    let v2 = build_json(h.tmp.path(), &newer, &h.tmp.path().join("build"), &[]).digest.to_string();
    let from = format!("oci:{}", h.tmp.path().join("build").display());
    let output = run(
        &h.state,
        &["promote", "web", "--to", "dev", "--digest", &v2, "--from-store", &from, "--as", "ci"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // The first one's manifest in dev's store is damaged (a new file: the other stores keep
    // theirs).
    let manifest = baton_tests::blob_path(&h.state.join("stores/dev"), "web", &h.web);
    let mut bytes = fs_err::read(&manifest).unwrap();
    bytes[10] ^= 1;
    fs_err::remove_file(&manifest).unwrap();
    fs_err::write(&manifest, bytes).unwrap();
    let (code, report) = audit(&h.state);
    assert_eq!(code, 0, "only current pins are re-hashed: {report:?}");
    let output = run(&h.state, &["audit", "--deep", "--output", "json"]);
    assert_eq!(output.status.code(), Some(4), "{}", stdout(&output));
    let report = decode(&output);
    assert!(report.deep);
    assert!(report.bundles_verified > 3, "{report:?}");
    let found = checks(&report);
    assert_eq!(found, ["store dev/web"], "{report:?}");
}

#[test]
fn targets_are_checked_where_they_are_reachable() {
    let h = history();
    let output = baton_tests::baton(&h.state)
        .args(["apply", "prod", "--cache"])
        .arg(h.tmp.path().join("cache"))
        .env("WEB_TLS_KEY", "not-a-real-key")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let targets = |state: &Path| {
        let output = run(state, &["audit", "--targets", "--output", "json"]);
        (output.status.code().unwrap(), decode(&output))
    };
    // prod applied and intact; dev and staging have no target directory here: notices.
    let (code, report) = targets(&h.state);
    assert_eq!(code, 0, "{report:?}");
    assert!(report.targets);
    assert_eq!(report.findings.len(), 2, "{report:?}");
    assert!(
        report.findings.iter().all(|f| f.severity == Severity::Notice && f.check == Check::Target)
    );
    // staging's target exists but holds nothing; prod's files were changed by hand.
    fs_err::create_dir_all(h.state.join("deploy/staging")).unwrap();
    let current = h.state.join("deploy/prod/web/current");
    let file = fs_err::read_dir(&current)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    fs_err::write(&file, "edited on the box\n").unwrap();
    let (code, report) = targets(&h.state);
    assert_eq!(code, 4, "{report:?}");
    let found = checks(&report);
    assert!(found.contains(&"target staging/web".to_owned()), "{found:?}");
    assert!(found.contains(&"drift prod/web".to_owned()), "{found:?}");
    let drift = finding(&report, "drift");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(drift.found.contains(name), "{drift:?}");
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let h = history();
    fs_err::write(h.state.join("params/dev/web.toml"), "server_name = \"elsewhere.example.com\"\n")
        .unwrap();
    hand_commit(&h.state, "tweak dev params");
    let html = h.tmp.path().join("audit.html");
    let output = run(&h.state, &["audit", "--report", html.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let text = fs_err::read_to_string(&html).unwrap();
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!text.contains(external), "the report must be self-contained: `{external}`");
    }
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        let output = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("chromium runs (make test installs Debian's chromium)");
        assert!(output.status.success(), "chromium: {}", stderr(&output));
        output
    };
    let dom = stdout(&chromium(&["--dump-dom"]));
    let summary = section(&dom, "summary");
    for text in ["<th>dev</th>", "<th>staging</th>", "<th>prod</th>", "<th>web</th>", "1.4.2"] {
        assert!(summary.contains(text), "summary lacks {text}: {summary}");
    }
    assert!(summary.contains("1 finding(s)") && summary.contains(">ok<"), "{summary}");
    // The last row counts every environment's findings, pinned bundle or not.
    let totals = &summary[summary.find("<tr class=\"totals\">").expect("a totals row")..];
    assert!(totals.contains("1 finding(s)") && totals.contains(">none<"), "{totals}");
    let findings = section(&dom, "findings");
    // Long text wraps inside its column instead of crushing the others.
    assert!(findings.contains("<table class=\"findings\">") && findings.contains("<colgroup>"));
    assert!(text.contains("table.findings { table-layout: fixed; }"));
    assert!(findings.contains("<code>params</code>"), "{findings}");
    assert!(findings.contains("changed without a promotion"), "{findings}");
    let chains = section(&dom, "chains");
    assert!(chains.contains("approvals: 2 of 2 counted (alice, bob)"), "{chains}");
    // And it paints: a screenshot of the page.
    let png = h.tmp.path().join("audit.png");
    chromium(&[&format!("--screenshot={}", png.display()), "--window-size=1200,1600"]);
    let image = fs_err::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG") && image.len() > 10_000, "{} bytes", image.len());
}

/// The `<section id="…">` of a page, up to the next top-level section.
fn section<'d>(dom: &'d str, id: &str) -> &'d str {
    let start = dom
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}: {dom}"));
    let rest = &dom[start..];
    let end = rest[1..].find("<section id=").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[test]
fn a_baton_commit_that_also_changes_other_files_is_found() {
    let h = history();
    // dev's pin touched again with the trailers of baton's own dev promotion copied, and the
    // pipeline changed in the same commit.
    recommit_dev_pin_as_baton(&h.state, || {
        let pipeline = h.state.join("baton.toml");
        let text =
            fs_err::read_to_string(&pipeline).unwrap().replace("approvals = 2", "approvals = 0");
        fs_err::write(&pipeline, text).unwrap();
    });
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4, "{report:?}");
    let trailers = finding(&report, "trailers");
    assert!(trailers.found.contains("baton.toml"), "{trailers:?}");
}

#[test]
fn a_repository_made_by_baton_init_audits_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let output = run(tmp.path(), &["init", state.to_str().unwrap(), "--as", "ci", "--local"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (code, report) = audit(&state);
    assert_eq!(code, 0, "{report:?}");
    assert!(report.findings.is_empty(), "{report:?}");
}

#[test]
fn an_allowed_signers_file_that_does_not_parse_still_requires_signatures() {
    let h = history();
    fs_err::create_dir_all(h.state.join(".baton")).unwrap();
    fs_err::write(h.state.join(".baton/allowed_signers"), "ci not-a-key-type AAAA\n").unwrap();
    hand_commit(&h.state, "signers, garbled");
    // An unsigned pin change dressed as baton's own dev promotion.
    recommit_dev_pin_as_baton(&h.state, || {});
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4, "{report:?}");
    let signature = finding(&report, "signature");
    assert!(signature.found.contains("does not parse"), "{signature:?}");
}

#[test]
fn a_pin_naming_another_place_is_found() {
    let h = history();
    // staging's pin copied over prod's, by hand: prod's file now says it is staging's.
    fs_err::copy(h.state.join("state/staging/web.toml"), h.state.join("state/prod/web.toml"))
        .unwrap();
    hand_commit(&h.state, "sync prod with staging");
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4, "{report:?}");
    let found = checks(&report);
    assert!(found.contains(&"state-file prod/web".to_owned()), "{found:?}");
    assert!(found.contains(&"hand-edit prod/web".to_owned()), "{found:?}");
}

/// Repository content never stops the audit: a pin that does not parse is a finding, and every
/// other pin is still judged and verified.
#[test]
fn an_unparseable_pin_is_a_finding_and_the_rest_is_still_audited() {
    let w = baton_tests::World::chain();
    fs_err::write(w.state.join("state/prod/web.toml"), "this is [not a pin\n").unwrap();
    w.commit("garbage");
    let (code, report) = audit(&w.state);
    assert_eq!(code, 4, "{report:?}");
    let found = checks(&report);
    assert!(found.contains(&"state-file prod/web".to_owned()), "{found:?}");
    let envs: Vec<&str> = report.summary.iter().map(|v| v.environment.as_str()).collect();
    assert_eq!(envs, ["dev", "staging"], "the other pins are still verified");
}

/// An environment removed from baton.toml leaves orphaned pins: each is a finding, and their
/// store, the one the environment had, is still checked.
#[test]
fn pins_of_a_removed_environment_are_orphans_whose_stores_are_still_checked() {
    let w = baton_tests::World::chain();
    let pipeline = w.state.join("baton.toml");
    let before = fs_err::read_to_string(&pipeline).unwrap();
    fs_err::write(
        &pipeline,
        format!("{before}\n[[environment]]\nname = \"qa\"\nstore = \"oci:stores/qa\"\n"),
    )
    .unwrap();
    fs_err::create_dir_all(w.state.join("params/qa")).unwrap();
    fs_err::copy(w.state.join("params/prod/web.toml"), w.state.join("params/qa/web.toml")).unwrap();
    w.commit("a qa environment");
    w.ok(&["promote", "web", "--to", "qa", "--as", "ci"]);
    fs_err::write(&pipeline, before).unwrap();
    w.commit("qa is gone");
    let (code, report) = audit(&w.state);
    assert_eq!(code, 4, "{report:?}");
    let found = checks(&report);
    assert!(found.contains(&"orphan qa/web".to_owned()), "{found:?}");
    assert!(!found.iter().any(|f| f.starts_with("store")), "{found:?}");
    fs_err::remove_dir_all(w.state.join("stores/qa/web/blobs")).unwrap();
    let found = checks(&audit(&w.state).1);
    assert!(found.contains(&"store qa/web".to_owned()), "the orphan's store is checked: {found:?}");
}

/// A shallow clone (as CI checkouts are) is reported with the next step, never a panic: the
/// commits whose parents are missing cannot be judged.
#[test]
fn a_shallow_clone_is_a_finding_with_the_next_step() {
    let w = baton_tests::World::chain();
    let shallow = w.dir().join("shallow");
    let url = format!("file://{}", w.state.display());
    git(w.dir(), &["clone", "-q", "--depth", "2", &url, shallow.to_str().unwrap()]);
    // With no remote to fetch the rest from (one with an upstream deepens itself: remote.rs).
    git(&shallow, &["remote", "remove", "origin"]);
    let output = run(&shallow, &["audit", "--output", "json"]);
    assert_eq!(output.status.code(), Some(4), "{}", baton_tests::stderr(&output));
    let report = decode(&output);
    let finding = report.findings.iter().find(|f| f.check.as_str() == "shallow").unwrap();
    assert!(finding.found.contains("git fetch --unshallow"), "{finding:?}");
}

/// A `baton.toml` broken at the head is a finding, and the audit still judges everything by the
/// last one that parsed; one broken when a commit changed a pin is a finding of that commit.
#[test]
fn a_broken_baton_toml_is_a_finding_and_the_rest_is_still_audited() {
    let w = baton_tests::World::chain();
    let pipeline = w.state.join("baton.toml");
    let good = fs_err::read_to_string(&pipeline).unwrap();
    for broken in ["garbage [[[\n", "\u{0}\u{1}\u{ff}", "[[environment]]\nname = \"dev\"\n"] {
        fs_err::write(&pipeline, broken).unwrap();
        w.commit("a broken pipeline");
        let (code, report) = audit(&w.state);
        assert_eq!(code, 4, "{broken:?}: {report:?}");
        let problem = finding(&report, "pipeline");
        assert!(problem.found.contains("baton.toml"), "{problem:?}");
        assert!(problem.found.contains("judged by the last baton.toml of the branch that parsed"));
        let envs: Vec<&str> = report.summary.iter().map(|v| v.environment.as_str()).collect();
        assert_eq!(envs, ["dev", "staging", "prod"], "{broken:?}: every pin is still verified");
        assert_eq!(report.bundles_verified, 3, "{broken:?}");
    }
    // Removed altogether: the same.
    fs_err::remove_file(&pipeline).unwrap();
    w.commit("no pipeline");
    let (code, report) = audit(&w.state);
    assert_eq!(code, 4);
    assert!(finding(&report, "pipeline").found.contains("baton.toml"));
    // A pin changed while the pipeline was broken: its commit is named.
    fs_err::write(&pipeline, "garbage [[[\n").unwrap();
    let pin = w.state.join("state/dev/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap().replace("by = \"ci\"", "by = \"mallory\"");
    fs_err::write(&pin, text).unwrap();
    w.commit("a pin while the pipeline is broken");
    let head = git(&w.state, &["rev-parse", "HEAD"]).trim().to_owned();
    fs_err::write(&pipeline, &good).unwrap();
    w.commit("the pipeline is fixed");
    let (code, report) = audit(&w.state);
    assert_eq!(code, 4);
    let at_pin = report
        .findings
        .iter()
        .find(|f| f.check == Check::Pipeline && f.commit.as_deref() == Some(head.as_str()))
        .unwrap_or_else(|| panic!("no pipeline finding at {head}: {report:?}"));
    assert!(at_pin.found.contains("cannot be recomputed"), "{at_pin:?}");
}

/// One way of tampering with the state repository.
type Tamper<'a> = Box<dyn Fn() + 'a>;

/// Whatever sits at a pin's path (a file that is not UTF-8, a digest of the wrong length, a
/// symbolic link, a gitlink) or at an approval's (garbage) is a finding, never a failure to run.
#[test]
fn odd_files_at_pin_and_approval_paths_are_findings() {
    let w = baton_tests::World::chain();
    let pin = w.state.join("state/prod/web.toml");
    let good = fs_err::read(&pin).unwrap();
    let head = git(&w.state, &["rev-parse", "HEAD"]).trim().to_owned();
    let short = String::from_utf8(good.clone()).unwrap();
    let short = regex::Regex::new("digest = \"sha256:[0-9a-f]{64}\"")
        .unwrap()
        .replace(&short, "digest = \"sha256:abc\"")
        .into_owned();
    let cases: Vec<(&str, Tamper<'_>)> = vec![
        ("not UTF-8", Box::new(|| fs_err::write(&pin, b"\xff\xfe not text").unwrap())),
        ("short digest", Box::new(|| fs_err::write(&pin, &short).unwrap())),
        (
            "symbolic link",
            Box::new(|| {
                fs_err::remove_file(&pin).unwrap();
                std::os::unix::fs::symlink("../staging/web.toml", &pin).unwrap();
            }),
        ),
        (
            "gitlink",
            Box::new(|| {
                git(&w.state, &["rm", "-q", "--cached", "state/prod/web.toml"]);
                let info = format!("160000,{head},state/prod/web.toml");
                git(&w.state, &["update-index", "--add", "--cacheinfo", &info]);
            }),
        ),
        (
            "garbage approval",
            Box::new(|| {
                let digest = regex::Regex::new("sha256:[0-9a-f]{64}")
                    .unwrap()
                    .find(std::str::from_utf8(&good).unwrap())
                    .unwrap()
                    .as_str()
                    .to_owned();
                let dir = w.state.join(format!("approvals/prod/web/{digest}"));
                fs_err::create_dir_all(&dir).unwrap();
                fs_err::write(dir.join("mallory.toml"), b"\x00garbage ]]]").unwrap();
            }),
        ),
    ];
    for (name, tamper) in cases {
        tamper();
        if name == "gitlink" {
            git(&w.state, &["commit", "-q", "-m", name]);
        } else {
            w.commit(name);
        }
        let (code, report) = audit(&w.state);
        assert_eq!(code, 4, "{name}: {report:?}");
        assert!(!report.findings.is_empty(), "{name}");
        let envs: Vec<&str> = report.summary.iter().map(|v| v.environment.as_str()).collect();
        assert!(envs.contains(&"dev") && envs.contains(&"staging"), "{name}: {envs:?}");
        // Back to the pinned file, by a new commit: history keeps the tamper.
        git(&w.state, &["rm", "-rq", "--cached", "--ignore-unmatch", "state/prod/web.toml"]);
        let _ = fs_err::remove_file(&pin);
        fs_err::write(&pin, &good).unwrap();
        git(&w.state, &["add", "-A"]);
        git(&w.state, &["commit", "-q", "--allow-empty", "-m", "restore"]);
    }
}
