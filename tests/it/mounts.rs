//! Stores, caches and targets on another file system (a tmpfs, `/dev/shm`): where a hard link
//! cannot cross, every copy falls back to streaming the bytes, re-hashed.

use std::{os::unix::fs::MetadataExt, path::Path};

use baton_tests::{World, baton, build_json, example, stderr};

/// A directory on a file system other than the one temporary directories are on.
fn other_mount() -> tempfile::TempDir {
    let dir = tempfile::tempdir_in("/dev/shm").expect("/dev/shm, a tmpfs, is writable");
    let here = fs_err::metadata(std::env::temp_dir()).unwrap().dev();
    assert_ne!(
        fs_err::metadata(dir.path()).unwrap().dev(),
        here,
        "/dev/shm must be another file system than {} for this test",
        std::env::temp_dir().display()
    );
    dir
}

fn ok(dir: &Path, args: &[&str]) {
    let output = baton(dir).args(args).output().unwrap();
    assert!(output.status.success(), "baton {args:?}: {}", stderr(&output));
}

#[test]
fn copy_export_and_import_cross_file_systems() {
    let tmp = tempfile::tempdir().unwrap();
    let other = other_mount();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let digest = built.digest.to_string();
    let there = format!("oci:{}", other.path().join("store").display());
    ok(tmp.path(), &["bundle", "copy", &format!("oci:store/web@{digest}"), &there]);
    ok(tmp.path(), &["bundle", "verify", &format!("{there}/web@{digest}")]);
    // And back, into a store that has none of its blobs.
    ok(tmp.path(), &["bundle", "copy", &format!("{there}/web@{digest}"), "oci:back"]);
    ok(tmp.path(), &["bundle", "verify", &format!("oci:back/web@{digest}")]);
    // A tar on the tmpfs, imported here, and one here imported there.
    let tar = other.path().join("web.tar");
    ok(
        tmp.path(),
        &["bundle", "export", &format!("oci:store/web@{digest}"), "-o", tar.to_str().unwrap()],
    );
    ok(tmp.path(), &["bundle", "import", tar.to_str().unwrap(), "--store", "oci:imported"]);
    ok(tmp.path(), &["bundle", "verify", &format!("oci:imported/web@{digest}")]);
    ok(tmp.path(), &["bundle", "export", &format!("oci:store/web@{digest}"), "-o", "here.tar"]);
    let into = format!("oci:{}", other.path().join("imported").display());
    ok(tmp.path(), &["bundle", "import", "here.tar", "--store", &into]);
    ok(tmp.path(), &["bundle", "verify", &format!("{into}/web@{digest}")]);
}

#[test]
fn promote_and_apply_with_a_store_and_a_cache_on_another_file_system() {
    let w = World::new();
    let other = other_mount();
    let pipeline = w.state.join("baton.toml");
    let store = other.path().join("dev");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("store = \"oci:stores/dev\"", &format!("store = \"oci:{}\"", store.display()));
    fs_err::write(&pipeline, text).unwrap();
    w.commit("dev's store is on a tmpfs");
    w.pin("dev", &w.web);
    // The cache is on the first file system: the bytes cross back.
    w.ok(&["apply", "dev"]);
    assert!(w.state.join("deploy/dev/web/current/html/index.html").is_file());
    assert!(w.cache().join("web/index.json").is_file(), "the cache was filled");
    // And a cache on the tmpfs, from a store on the first file system.
    let cache = other.path().join("cache");
    w.pin("staging", &w.web);
    let output = baton_tests::baton(&w.state)
        .args(["apply", "staging"])
        .env("BATON_CACHE", &cache)
        .env("WEB_TLS_KEY", baton_tests::SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(cache.join("web/index.json").is_file(), "the cache on the tmpfs was filled");
    assert!(w.state.join("deploy/staging/web/current/html/index.html").is_file());
}
