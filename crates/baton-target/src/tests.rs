//! A target's home on a real file system: records, the `current` swap, drift.

use baton_model::{Action, StateRecord};
use jiff::Timestamp;

use super::*;

fn pin(digest: &str, params: &str) -> StateRecord {
    StateRecord {
        bundle: "web".parse().unwrap(),
        environment: "prod".parse().unwrap(),
        digest: baton_model::Digest::of(digest.as_bytes()),
        version: "1.0.0".parse().unwrap(),
        params_digest: baton_model::Digest::of(params.as_bytes()),
        action: Action::Promote,
        from: None,
        source_store: "oci:stores/staging".into(),
        by: "ci".parse().unwrap(),
        at: "2026-11-24T10:00:00Z".parse().unwrap(),
        previous: None,
        reason: None,
        signatures: Vec::new(),
        attestation: None,
        verifications: Vec::new(),
        published: None,
    }
}

/// A dir target's home with one release (`<digest>-t`) holding `index.html`, applied for `pin`.
fn applied(dir: &std::path::Path, pin: &StateRecord) -> Home {
    let target = baton_model::Target::Dir { path: "deploy".into(), keep: 3, verify: Vec::new() };
    let home = Home::of(&target, dir, &dir.join("applied"), &pin.environment, &pin.bundle);
    let _lock = home.lock().unwrap();
    let id = format!("{}-t", pin.digest.short());
    let release = home.release(&id);
    fs_err::create_dir_all(&release).unwrap();
    fs_err::write(release.join("index.html"), "<h1>hi</h1>").unwrap();
    let files = hash_tree(&release, &SecretFiles::none()).unwrap();
    let record = AppliedRecord {
        environment: pin.environment.clone(),
        bundle: pin.bundle.clone(),
        digest: pin.digest.clone(),
        version: "1.0.0".into(),
        params_digest: pin.params_digest.clone(),
        tree_digest: tree_digest(&files),
        release: id.clone(),
        files,
        at: record_time(Timestamp::from_second(1_795_000_000).unwrap()),
        result: Outcome::Ok,
    };
    home.switch_current(&id).unwrap();
    home.write_release_record(&record).unwrap();
    home.write_record(&record).unwrap();
    home
}

#[test]
fn a_target_as_applied_is_clean_and_a_changed_file_is_drift() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = pin("a", "p");
    let home = applied(dir.path(), &pinned);
    assert_eq!(home.path, dir.path().join("deploy/web"));
    let id = format!("{}-t", pinned.digest.short());
    assert_eq!(home.current_release().unwrap(), Some(id.clone()));
    assert!(drift(&home, &pinned).unwrap().is_clean());
    fs_err::write(home.release(&id).join("index.html"), "<h1>changed</h1>").unwrap();
    fs_err::write(home.release(&id).join("extra"), "x").unwrap();
    let report = drift(&home, &pinned).unwrap();
    assert_eq!(report.differences.changed, ["index.html"]);
    assert_eq!(report.differences.added, ["extra"]);
    assert!(report.pinned && !report.is_clean());
}

#[test]
fn another_pin_or_other_params_is_not_what_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let home = applied(dir.path(), &pin("a", "p"));
    assert!(!drift(&home, &pin("b", "p")).unwrap().pinned);
    assert!(!drift(&home, &pin("a", "q")).unwrap().pinned);
    let record = home.record().unwrap().unwrap();
    let earlier = home.earlier_release(&record.digest, &record.params_digest, None).unwrap();
    assert_eq!(earlier.map(|r| r.release), Some(record.release.clone()));
    let skip = Some(record.release.as_str());
    assert!(home.earlier_release(&record.digest, &record.params_digest, skip).unwrap().is_none());
}

#[test]
fn an_unreadable_record_is_an_error_not_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = pin("a", "p");
    let home = applied(dir.path(), &pinned);
    fs_err::write(home.record_path(), "{ not json").unwrap();
    let error = drift(&home, &pinned).unwrap_err();
    assert!(
        matches!(error, TargetError::BadRecord { ref path, .. } if *path == home.record_path())
    );
    assert!(error.to_string().contains("remove it and apply again"), "{error}");
    // Nothing applied at all is said as such.
    let empty = Home { path: dir.path().join("nothing"), linked: true };
    assert!(drift(&empty, &pinned).unwrap().never_applied);
}

#[test]
fn a_second_apply_is_told_the_target_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home { path: dir.path().join("web"), linked: true };
    let held = home.lock().unwrap();
    assert!(matches!(home.lock().unwrap_err(), TargetError::Busy { .. }));
    drop(held);
    home.lock().unwrap();
}
