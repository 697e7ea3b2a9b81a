//! Admission: `apply`, `plan` and the agent act only on a pin whose commit the judge of history
//! accepts, the same judge the audit runs. A hand commit, a commit with forged trailers whose
//! gates never held, and a digest that skipped staging are each refused with exit 3, named with
//! the commit and the reason, and the target keeps what it had.

use baton_model::{Action, Digest, StateRecord, Trailers};
use baton_target::read_record;
use baton_tests::{World, git, ssh_key};

/// web 1.4.2 promoted dev → staging → prod with two approvals and applied to prod; and a second
/// build, 9.9.9, copied into prod's store without ever passing staging.
fn applied_prod_and_a_stranger() -> (World, String) {
    let w = World::chain();
    w.ok(&["apply", "prod"]);
    let stranger = w.build("9.9.9", |_| {});
    let from = format!("{}/web@{stranger}", w.build_store());
    let to = format!("oci:{}", w.state.join("stores/prod").display());
    w.ok(&["bundle", "copy", &from, &to]);
    (w, stranger)
}

/// The prod pin rewritten to `digest` (version 9.9.9), as baton would write the file.
fn pin_file(w: &World, digest: &str) -> StateRecord {
    let path = w.state.join("state/prod/web.toml");
    let mut record = StateRecord::from_toml(&fs_err::read_to_string(&path).unwrap()).unwrap();
    record.digest = digest.parse().unwrap();
    record.version = "9.9.9".parse().unwrap();
    record.previous = None;
    fs_err::write(&path, record.to_toml()).unwrap();
    record
}

/// What prod's target has applied: the digest in its record.
fn applied_digest(w: &World) -> Digest {
    let record = read_record(&w.state.join("deploy/prod/web/applied.json")).unwrap();
    record.expect("prod was applied").digest
}

/// Every command that acts on the pin refuses it, exit 3, naming the commit and `check`; the
/// target keeps `kept`.
fn refused_everywhere(w: &World, check: &str, kept: &Digest) {
    let commit = git(&w.state, &["rev-parse", "HEAD"]).trim().to_owned();
    for args in [
        vec!["apply", "prod"],
        vec!["plan", "prod"],
        vec!["agent", "--env", "prod", "--once"],
        vec!["apply", "prod", "web"],
    ] {
        let err = w.fails(&args, 3);
        assert!(err.contains(&format!("by commit {commit}")), "{args:?}: {err}");
        assert!(err.contains(check), "{args:?}: {err}");
        assert!(err.contains("the target keeps what it has"), "{args:?}: {err}");
        assert_eq!(&applied_digest(w), kept, "{args:?} changed the target");
    }
    let output = w.baton(&["apply", "prod", "--output", "json"]);
    assert_eq!(output.status.code(), Some(3));
    let document: baton::document::ErrorDocument = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document.error.kind, baton::document::ErrorKind::Refused, "{document:?}");
    assert_eq!(document.error.exit_code, 3, "{document:?}");
}

#[test]
fn a_hand_commit_that_pins_prod_is_refused_by_apply_plan_and_agent() {
    let (w, stranger) = applied_prod_and_a_stranger();
    let kept = applied_digest(&w);
    pin_file(&w, &stranger);
    w.commit("hotfix: pin 9.9.9 in prod");
    refused_everywhere(&w, "hand-edit", &kept);
    // The audit reports the same commit for the same reason: one judge.
    let report = w.fails(&["audit"], 4);
    assert!(report.contains("hand-edit"), "{report}");
}

/// Commits the pin of `record` with the trailers baton would write: one file, matching trailers.
fn forge(w: &World, record: &StateRecord) {
    let trailers = Trailers {
        action: Action::Promote,
        bundle: record.bundle.clone(),
        digest: record.digest.clone(),
        from: Some("staging".into()),
        to: record.environment.clone(),
        version: Some(record.version.clone()),
        by: record.by.clone(),
        params: Some(record.params_digest.clone()),
        previous: None,
        reason: None,
    };
    w.commit(&trailers.message("promote web 9.9.9 to prod"));
}

#[test]
fn forged_trailers_do_not_make_a_promotion() {
    let (w, stranger) = applied_prod_and_a_stranger();
    let kept = applied_digest(&w);
    // Shaped exactly as baton writes a promotion, but the digest never passed staging and nobody
    // approved it.
    forge(&w, &pin_file(&w, &stranger));
    refused_everywhere(&w, "chain", &kept);
    let err = w.fails(&["apply", "prod"], 3);
    assert!(err.contains("gate-approvals"), "{err}");
}

#[test]
fn a_break_glass_is_admitted_and_applied() {
    let (w, stranger) = applied_prod_and_a_stranger();
    let to = format!("oci:{}", w.state.join("stores/prod").display());
    w.break_glass(&stranger, &to, "INC-7 outage", "oncall");
    w.ok(&["apply", "prod"]);
    assert_eq!(applied_digest(&w).to_string(), stranger);
}

#[test]
fn an_unsigned_pin_in_a_repository_that_requires_signatures_is_refused() {
    let (w, stranger) = applied_prod_and_a_stranger();
    let kept = applied_digest(&w);
    let keys = w.dir().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (_, ci_pub) = ssh_key(&keys, "ci");
    fs_err::create_dir_all(w.state.join(".baton")).unwrap();
    fs_err::write(w.state.join(".baton/allowed_signers"), format!("ci {ci_pub}\n")).unwrap();
    w.commit("require signed commits");
    // The pin the chain made, before signatures were required, is still admitted.
    w.ok(&["apply", "prod"]);
    forge(&w, &pin_file(&w, &stranger));
    refused_everywhere(&w, "signature", &kept);
}

#[test]
fn params_changed_without_a_promotion_are_never_rendered() {
    let w = World::chain();
    let params = w.state.join("params/prod/web.toml");
    let text = fs_err::read_to_string(&params).unwrap();
    fs_err::write(&params, text.replace("shop.example.com", "evil.example.net")).unwrap();
    w.commit("point prod elsewhere");
    // A fresh target renders from scratch: with the params the pin was promoted with.
    let output = w.baton(&["apply", "prod"]);
    assert_eq!(output.status.code(), Some(0), "{}", baton_tests::stderr(&output));
    let err = baton_tests::stderr(&output);
    assert!(err.contains("params changed without a promotion"), "{err}");
    let conf = fs_err::read_to_string(w.state.join("deploy/prod/web/current/conf/nginx.conf"));
    let conf = conf.unwrap();
    assert!(conf.contains("server_name shop.example.com;"), "{conf}");
    assert!(!conf.contains("evil.example.net"), "{conf}");
    let plan = w.baton(&["plan", "prod"]);
    assert!(!baton_tests::stdout(&plan).contains("evil.example.net"));
    // The audit reports the same change.
    let audit = w.fails(&["audit"], 4);
    assert!(audit.contains("params"), "{audit}");
}

#[test]
fn a_pin_a_shallow_clone_cannot_judge_is_refused_with_the_next_step() {
    let w = World::chain();
    let shallow = w.dir().join("shallow");
    let url = format!("file://{}", w.state.display());
    git(w.dir(), &["clone", "-q", "--depth", "1", &url, shallow.to_str().unwrap()]);
    // With no remote to fetch the rest from (one with an upstream deepens itself: remote.rs).
    git(&shallow, &["remote", "remove", "origin"]);
    let output = baton_tests::run(&shallow, &["apply", "prod"]);
    assert_eq!(output.status.code(), Some(3), "{}", baton_tests::stderr(&output));
    let err = baton_tests::stderr(&output);
    assert!(err.contains("no commit in this clone's history wrote it"), "{err}");
    assert!(err.contains("git fetch --unshallow"), "{err}");
}
