//! Commit times cannot be trusted alone: a commit dated before its parent is an audit finding,
//! and the promoter refuses to write after a head dated in its future.

use baton_tests::{World, git, git_at};
use jiff::{SignedDuration, Timestamp};

/// Commits everything in the state repository with both dates set to `when`.
fn commit_dated(w: &World, message: &str, when: Timestamp) {
    git(&w.state, &["add", "-A"]);
    git_at(&w.state, &["commit", "-q", "-m", message], &when.to_string());
}

#[test]
fn a_commit_dated_before_its_parent_is_an_audit_finding() {
    let w = World::chain();
    assert_eq!(w.baton(&["audit"]).status.code(), Some(0));
    fs_err::write(w.state.join("NOTES.md"), "a note\n").unwrap();
    let past = Timestamp::now() - SignedDuration::from_hours(30 * 24);
    commit_dated(&w, "a note from a machine whose clock is a month behind", past);
    let report = w.fails(&["audit"], 4);
    assert!(report.contains("clock"), "{report}");
    assert!(report.contains("a month behind"), "{report}");
}

#[test]
fn the_promoter_refuses_to_write_after_a_head_dated_in_its_future() {
    let w = World::new();
    fs_err::write(w.state.join("NOTES.md"), "a note\n").unwrap();
    let future = Timestamp::now() + SignedDuration::from_hours(2);
    commit_dated(&w, "a note from a machine whose clock is two hours ahead", future);
    let head = git(&w.state, &["rev-parse", "HEAD"]).trim().to_owned();
    let from = w.build_store();
    let args =
        ["promote", "web", "--to", "dev", "--digest", &w.web, "--from-store", &from, "--as", "ci"];
    let err = w.fails(&args, 1);
    assert!(err.contains(&format!("head {head} is dated")), "{err}");
    assert!(err.contains("after this machine's clock"), "{err}");
    assert_eq!(git(&w.state, &["rev-parse", "HEAD"]).trim(), head, "nothing was committed");
    let err = w.fails(&["approve", "web", "--env", "prod", "--digest", &w.web, "--as", "alice"], 1);
    assert!(err.contains("after this machine's clock"), "{err}");
}
