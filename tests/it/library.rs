//! The applier as a library: apply, drift and reconcile against a real state repository, a real
//! layout store and a real directory target, with the clock and the secrets handed in (no
//! environment variable and no wall clock is read).

use baton_apply::{ApplyAction, ApplyOptions, apply, drift, reconcile};
use baton_state::StateRepo;
use baton_tests::{SECRET, World};
use baton_view::View;
use jiff::Timestamp;

#[test]
fn apply_records_the_instant_it_was_given_and_drift_and_reconcile_read_it_back() {
    let w = World::new();
    w.pin("dev", &w.web.clone());
    let view = View::open(StateRepo::discover(&w.state).unwrap()).unwrap();
    let registry = baton_tests::registry_options();
    let progress: baton_store::Progress = std::sync::Arc::new(|_| {});
    let lookup = |name: &str| (name == "WEB_TLS_KEY").then(|| SECRET.to_owned());
    let instant: Timestamp = "2026-11-24T10:00:00.600Z".parse().unwrap();
    let clock = move || instant;
    let options = ApplyOptions {
        cache: w.cache(),
        applied_dir: w.dir().join("applied"),
        registry: &registry,
        lookup: &lookup,
        secrets_dir: None,
        progress: &progress,
        clock: &clock,
        reporter: None,
    };
    let done = apply(&view, "dev", None, &options).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].action, ApplyAction::Applied);
    assert_eq!(done[0].digest.to_string(), w.web);
    // The record is dated by the clock, to the second (truncated: never after the instant).
    let home = w.state.join("deploy/dev/web");
    let record = baton_target::read_record(&home.join("applied.json")).unwrap().unwrap();
    assert_eq!(record.at.to_string(), "2026-11-24T10:00:00Z");
    assert_eq!(record.result, baton_target::Outcome::Ok);
    // The secret was resolved from the lookup handed in, and no record holds it.
    let text = fs_err::read_to_string(home.join("applied.json")).unwrap();
    assert!(!text.contains(SECRET));
    // drift reads the same record back; a changed file is drift, and reconcile heals it.
    assert!(drift(&view, "dev", None, &options).unwrap()[0].is_clean());
    let page = home.join("current/html/index.html");
    fs_err::write(&page, "defaced\n").unwrap();
    let report = &drift(&view, "dev", None, &options).unwrap()[0];
    assert_eq!(report.differences.changed, ["html/index.html"]);
    let pass = reconcile(&view, "dev", false, &options).unwrap();
    assert_eq!(pass[0].action, ApplyAction::Drift, "without heal, drift is only reported");
    let pass = reconcile(&view, "dev", true, &options).unwrap();
    assert_eq!(pass[0].action, ApplyAction::Healed);
    assert!(drift(&view, "dev", None, &options).unwrap()[0].is_clean());
    assert_ne!(fs_err::read_to_string(&page).unwrap(), "defaced\n");
    // A second apply of the same pin does nothing.
    assert_eq!(apply(&view, "dev", None, &options).unwrap()[0].action, ApplyAction::Unchanged);
}
