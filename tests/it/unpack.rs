//! `baton bundle unpack` extracts exactly the indexed files, verified, and refuses hostile layers
//! without writing anything outside (or anything at all into) the destination.

use std::{os::unix::fs::PermissionsExt, path::Path};

use baton_tests::{Crafted, baton, build_json, craft_bundle, example, stdout};

#[test]
fn unpack_gives_back_the_descriptor_files() {
    let tmp = tempfile::tempdir().unwrap();
    let web = example(tmp.path(), "web");
    let json = build_json(tmp.path(), &web, &tmp.path().join("store"), &[]);
    let reference = format!("oci:store/web@{}", &*json.digest.to_string());
    let output =
        baton(tmp.path()).args(["bundle", "unpack", &reference, "--into", "out"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = tmp.path().join("out");
    for file in ["bundle.toml", "conf/nginx.conf", "html/index.html", "scripts/reload.sh"] {
        assert_eq!(
            fs_err::read(out.join(file)).unwrap(),
            fs_err::read(web.join(file)).unwrap(),
            "{file}"
        );
    }
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out.join("scripts/reload.sh")), 0o755);
    assert_eq!(mode(&out.join("conf/nginx.conf")), 0o644);
    assert_eq!(
        fs_err::read_link(out.join("html/home.html")).unwrap().to_str().unwrap(),
        "index.html"
    );
    let leftovers: Vec<_> = fs_err::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".baton-unpack"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A non-empty destination is refused and left alone.
    let output =
        baton(tmp.path()).args(["bundle", "unpack", &reference, "--into", "out"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("it is not empty"));
}

/// Unpacks a crafted bundle and checks it is refused with exit 4, naming `expected`, and that
/// neither the destination nor anything outside it was written.
fn refused(entries: &[Crafted<'_>], expected: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    fs_err::create_dir_all(&work).unwrap();
    let digest = craft_bundle(&work.join("store"), "evil", entries);
    let before = list(tmp.path());
    let output = baton(&work)
        .args(["bundle", "unpack", &format!("oci:store/evil@{digest}"), "--into", "dest/inner"])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(4),
        "stdout: {text}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    assert!(!work.join("dest/inner").exists(), "the destination must not be created");
    let after: Vec<String> =
        list(tmp.path()).into_iter().filter(|p| !p.contains("/dest")).collect();
    let before: Vec<String> = before.into_iter().collect();
    assert_eq!(after, before, "nothing may be written outside the destination");
}

fn list(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        out.push(entry.path().display().to_string());
        if entry.file_type().unwrap().is_dir() {
            out.extend(list(&entry.path()));
        }
    }
    out.sort();
    out
}

#[test]
fn parent_directory_entries_are_refused() {
    refused(
        &[Crafted::File("ok.txt", b"fine"), Crafted::File("../../escaped.txt", b"gotcha")],
        "file ../../escaped.txt",
    );
}

#[test]
fn absolute_paths_are_refused() {
    refused(&[Crafted::File("/tmp/baton-absolute-escape.txt", b"gotcha")], "is absolute");
    assert!(!Path::new("/tmp/baton-absolute-escape.txt").exists());
}

#[test]
fn links_that_escape_are_refused() {
    refused(&[Crafted::Symlink("link", "../../outside")], "outside the bundle");
    refused(
        &[Crafted::Symlink("up", ".."), Crafted::Symlink("deep", "up/x")],
        "outside the bundle",
    );
}

#[test]
fn a_link_followed_by_a_file_through_it_writes_nothing_outside() {
    refused(
        &[Crafted::Symlink("sub", "."), Crafted::File("sub/../../x", b"gotcha")],
        "file sub/../../x",
    );
}

#[test]
fn hard_links_are_refused() {
    refused(&[Crafted::File("a", b"data"), Crafted::HardLink("b", "a")], "is a hard link");
}

#[test]
fn device_files_are_refused() {
    refused(
        &[Crafted::CharDevice("dev/null")],
        "file dev/null: has entry type Char (device, FIFO, directory or other): refused",
    );
}

#[test]
fn duplicate_entries_are_refused() {
    refused(
        &[Crafted::File("a.conf", b"same"), Crafted::File("a.conf", b"same")],
        "appears twice in the layer",
    );
}

#[test]
fn entries_not_in_the_index_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let digest = craft_bundle(&store, "evil", &[Crafted::File("listed.conf", b"a")]);
    // Swap the layer for one with an extra entry, keeping the config's index as it was.
    let other = tmp.path().join("other");
    craft_bundle(
        &other,
        "evil",
        &[Crafted::File("listed.conf", b"a"), Crafted::File("extra.sh", b"#!/bin/sh")],
    );
    let manifest_path = baton_tests::blob_path(&store, "evil", &digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&manifest_path).unwrap()).unwrap();
    let other_index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(other.join("evil/index.json")).unwrap()).unwrap();
    let other_manifest_digest = other_index["manifests"][0]["digest"].as_str().unwrap();
    let other_manifest: serde_json::Value = serde_json::from_slice(
        &fs_err::read(baton_tests::blob_path(&other, "evil", other_manifest_digest)).unwrap(),
    )
    .unwrap();
    // The other layer is longer: the manifest says so (a layer is read no further than its
    // descriptor's size), and so names a new digest; the config and its index stay.
    let other_layer = &other_manifest["layers"][0];
    let layer_path =
        baton_tests::blob_path(&store, "evil", other_layer["digest"].as_str().unwrap());
    fs_err::copy(
        baton_tests::blob_path(&other, "evil", other_layer["digest"].as_str().unwrap()),
        &layer_path,
    )
    .unwrap();
    let mut forged = manifest.clone();
    forged["layers"][0] = other_layer.clone();
    let forged = serde_json::to_vec(&forged).unwrap();
    let digest = baton_model::Digest::of(&forged).to_string();
    fs_err::write(baton_tests::blob_path(&store, "evil", &digest), &forged).unwrap();
    let output = baton(tmp.path())
        .args(["bundle", "unpack", &format!("oci:store/evil@{digest}"), "--into", "dest"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stdout(&output)
            .contains("file extra.sh: is in the layer but not in the config's file index"),
        "{}",
        stdout(&output)
    );
    assert!(!tmp.path().join("dest").exists());
}
