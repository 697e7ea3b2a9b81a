//! The auditor end to end: a real history made by baton itself, then tampered with the way an
//! attacker or a careless person would; each tamper is found and named, a clean history gives no
//! finding.

use std::path::{Path, PathBuf};

use baton_tests::{build_json, example, git, run, state_repo, stderr, stdout_json};
use serde_json::Value;

/// web promoted through dev, staging and prod (two approvals), all by baton.
struct History {
    tmp: tempfile::TempDir,
    state: PathBuf,
    web: String,
}

fn history() -> History {
    let tmp = tempfile::tempdir().unwrap();
    let state = state_repo(tmp.path());
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("build"), &[]);
    let web = built["digest"].as_str().unwrap().to_owned();
    let from = format!("oci:{}", tmp.path().join("build").display());
    let ok = |args: &[&str]| {
        let output = run(&state, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    };
    ok(&["promote", "web", "--to", "dev", "--digest", &web, "--from-store", &from, "--as", "ci"]);
    ok(&["promote", "web", "--to", "staging", "--as", "ci"]);
    ok(&["approve", "web", "--env", "prod", "--as", "alice"]);
    ok(&["approve", "web", "--env", "prod", "--as", "bob"]);
    ok(&["promote", "web", "--to", "prod", "--as", "ci"]);
    History { tmp, state, web }
}

/// Runs the audit; returns the exit code and the JSON report.
fn audit(state: &Path) -> (i32, Value) {
    let output = run(state, &["audit", "--output", "json"]);
    (output.status.code().unwrap(), stdout_json(&output))
}

fn checks(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}/{}",
                f["check"].as_str().unwrap(),
                f["environment"].as_str().unwrap_or("-"),
                f["bundle"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

fn hand_commit(state: &Path, message: &str) {
    git(state, &["add", "-A"]);
    git(state, &["commit", "-q", "-m", message]);
}

#[test]
fn a_clean_history_gives_no_finding() {
    let h = history();
    let (code, report) = audit(&h.state);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]));
    let summary = report["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 3);
    assert!(summary.iter().all(|v| v["findings"] == 0 && v["digest"] == h.web.as_str()));
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
    // The hand commit is dated 2026-01-02 (the test's git identity); from a later date on, only
    // the present is judged: the forged digest is still not in the store.
    let later = run(&h.state, &["audit", "--since", "2026-06-01", "--output", "json"]);
    let found = checks(&stdout_json(&later));
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
        build_json(h.tmp.path(), &dir, &h.state.join("stores/staging"), &[])["digest"]
            .as_str()
            .unwrap()
            .to_owned()
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
    let output = run(
        &h.state,
        &[
            "promote",
            "web",
            "--to",
            "prod",
            "--digest",
            &h.web,
            "--from-store",
            &from,
            "--break-glass",
            "INC-7",
            "--as",
            "oncall",
        ],
    );
    // The digest is pinned already: a no-op. Break glass for a new params file instead.
    assert!(output.status.success(), "{}", stderr(&output));
    fs_err::write(
        h.state.join("params/prod/web.toml"),
        "server_name = \"shop.example.com\"\nworker_connections = 2048\n",
    )
    .unwrap();
    hand_commit(&h.state, "prod params");
    let output = run(
        &h.state,
        &[
            "promote",
            "web",
            "--to",
            "prod",
            "--digest",
            &h.web,
            "--from-store",
            &from,
            "--break-glass",
            "INC-7",
            "--as",
            "oncall",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (code, report) = audit(&h.state);
    assert_eq!(code, 0, "{report}");
    let notice = &report["findings"][0];
    assert_eq!(
        (notice["check"].as_str(), notice["severity"].as_str()),
        (Some("break-glass"), Some("notice"))
    );
    assert!(notice["found"].as_str().unwrap().contains("INC-7"));
}

#[test]
fn unsigned_commits_where_signers_are_required_are_found() {
    let h = history();
    let key = h.tmp.path().join("ci-key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
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
    let tmp = tempfile::tempdir().unwrap();
    let state = state_repo(tmp.path());
    // prod also needs an hour of soak in staging.
    let pipeline = state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("gates = { approvals = 2,", "gates = { soak = \"1h\", approvals = 2,");
    fs_err::write(&pipeline, text).unwrap();
    hand_commit(&state, "prod soaks an hour");
    let web = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("build"), &[])["digest"].as_str().unwrap().to_owned();
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
    let staged = fs_err::read_to_string(state.join("state/staging/web.toml")).unwrap();
    let forged = staged
        .replace("environment = \"staging\"", "environment = \"prod\"")
        .replace("from = \"dev\"", "from = \"staging\"");
    let params = fs_err::read(state.join("params/prod/web.toml")).unwrap();
    let params_digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&params)))
    };
    let forged = forged
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
    git(&state, &["add", "-A"]);
    let message = format!(
        "promote web 1.4.2 to prod\n\nBaton-Action: promote\nBaton-Bundle: web\nBaton-Digest: {web}\nBaton-From: staging\nBaton-To: prod\nBaton-Version: 1.4.2\nBaton-By: ci\nBaton-Params: {params_digest}\n"
    );
    git(&state, &["commit", "-q", "-m", &message]);
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
    let approvals = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "gate-approvals")
        .unwrap();
    assert_eq!(
        approvals["found"], "0 ()",
        "the promoter's own approval does not count: {approvals}"
    );
}

#[test]
fn a_commit_signed_by_a_key_not_allowed_is_found() {
    let h = history();
    let keygen = |name: &str| {
        let key = h.tmp.path().join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        key
    };
    let ci = keygen("ci-key");
    let mallory = keygen("mallory-key");
    let public = fs_err::read_to_string(ci.with_extension("pub")).unwrap();
    fs_err::create_dir_all(h.state.join(".baton")).unwrap();
    fs_err::write(h.state.join(".baton/allowed_signers"), format!("ci {public}")).unwrap();
    hand_commit(&h.state, "require signatures");
    // A pin re-committed by hand, signed by git with a key the file does not list.
    let pin = h.state.join("state/dev/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap() + "\n";
    fs_err::write(&pin, text).unwrap();
    git(&h.state, &["add", "-A"]);
    git(
        &h.state,
        &[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={}", mallory.display()),
            "commit",
            "-q",
            "-S",
            "-m",
            "signed, but by whom",
        ],
    );
    let (code, report) = audit(&h.state);
    assert_eq!(code, 4);
    let signature = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "signature")
        .unwrap_or_else(|| panic!("no signature finding: {report}"));
    assert!(signature["found"].as_str().unwrap().contains("not listed"), "{signature}");
}
