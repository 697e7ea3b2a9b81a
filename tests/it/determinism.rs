//! The same descriptor gives the same digest whatever the checkout path, mtimes, umask, file
//! modes (beyond the execute bit), directory order or number of compression threads.

use std::{fmt::Write as _, os::unix::fs::PermissionsExt, path::Path, process::Command};

use baton_tests::{build_json, copy_tree, repo_root};

/// Copies `examples/web` with `sh` under `umask`, then sets every mtime to `touch_date`.
fn copy_with(dir: &Path, umask: &str, touch_date: &str) {
    let source = repo_root().join("examples/web");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && mkdir -p '{0}' && cp -R '{1}/.' '{0}/' && find '{0}' -exec touch -h -d '{touch_date}' {{}} +", dir.display(), source.display()))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn two_copies_with_different_mtimes_umasks_and_order_give_one_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("checkout-a/deep/path/web");
    let b = tmp.path().join("b");
    copy_with(&a, "022", "2001-02-03 04:05:06");
    copy_with(&b, "077", "2024-12-31 23:59:59");
    // A third copy made in reverse directory order, with group-writable modes.
    let c = tmp.path().join("c");
    copy_tree(&repo_root().join("examples/web"), &c);
    let conf = c.join("conf/nginx.conf");
    fs_err::set_permissions(&conf, std::fs::Permissions::from_mode(0o664)).unwrap();

    let store = tmp.path().join("store");
    let da = build_json(tmp.path(), &a, &store, &[]);
    let db = build_json(tmp.path(), &b, &store, &["--threads", "1"]);
    let dc = build_json(tmp.path(), &c, &tmp.path().join("other-store"), &["--threads", "7"]);
    assert_eq!(da.digest, db.digest);
    assert_eq!(da.digest, dc.digest);
    assert_eq!(da.layer, dc.layer);
}

#[test]
fn the_executable_bit_and_contents_change_the_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let a = tmp.path().join("a");
    copy_tree(&repo_root().join("examples/web"), &a);
    let base = build_json(tmp.path(), &a, &store, &[]);

    fs_err::set_permissions(a.join("scripts/reload.sh"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let no_exec = build_json(tmp.path(), &a, &store, &[]);
    assert_ne!(base.digest, no_exec.digest);

    fs_err::write(a.join("html/index.html"), "changed").unwrap();
    let changed = build_json(tmp.path(), &a, &store, &[]);
    assert_ne!(no_exec.digest, changed.digest);
}

#[test]
fn a_large_multi_block_bundle_does_not_depend_on_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    fs_err::create_dir_all(dir.join("data")).unwrap();
    fs_err::write(dir.join("bundle.toml"), "[bundle]\nname = \"big\"\nversion = \"1.0.0\"\n")
        .unwrap();
    // About 5 MiB of varied text: several compression blocks.
    for i in 0..150 {
        let body = (0..1000).fold(String::new(), |mut body, j| {
            writeln!(body, "key-{i}-{j}: value {}", (i * 7919 + j * 104_729) % 100_003).unwrap();
            body
        });
        fs_err::write(dir.join(format!("data/file-{i:03}.yaml")), body).unwrap();
    }
    let one = build_json(tmp.path(), &dir, &tmp.path().join("s1"), &["--threads", "1"]);
    let four = build_json(tmp.path(), &dir, &tmp.path().join("s4"), &["--threads", "4"]);
    assert_eq!(one.digest, four.digest);
    assert!(one.layer.size > 0);
}

#[test]
fn source_date_epoch_sets_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = baton_tests::example(tmp.path(), "web");
    // build_json sets SOURCE_DATE_EPOCH=1700000000: the mtime of every entry, and nothing else.
    let json = build_json(tmp.path(), &dir, &tmp.path().join("store"), &[]);
    let layer =
        baton_tests::blob_path(&tmp.path().join("store"), "web", &json.layer.digest.to_string());
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(fs_err::File::open(layer).unwrap()));
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.mtime().unwrap(), 1_700_000_000);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.username().unwrap(), Some(""));
    }
}
