//! Verification and unpacking of layers built by `build`, on real temporary directories.

use std::path::Path;

use baton_model::Digest;

use super::*;
use crate::{BuildContext, Built, Descriptor, build};

/// Builds a descriptor of `files` (path, content) and returns the bundle and its layer bytes.
fn built(dir: &Path, files: &[(&str, &[u8])]) -> (Built, Vec<u8>) {
    fs_err::write(dir.join("bundle.toml"), "[bundle]\nname = \"t\"\nversion = \"1.0.0\"\n")
        .unwrap();
    for (path, content) in files {
        let full = dir.join(path);
        fs_err::create_dir_all(full.parent().unwrap()).unwrap();
        fs_err::write(full, content).unwrap();
    }
    let descriptor = Descriptor::read(dir).unwrap();
    let context = BuildContext { epoch: 0, threads: 2 };
    build(&descriptor, &context, Vec::new(), &|_| {}).unwrap()
}

fn check(layer: &[u8], bundle: &Built, limits: Limits) -> Vec<String> {
    verify_layer(layer, bundle.layer(), &bundle.config, limits)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_sound_layer_has_no_findings_and_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, layer) = built(tmp.path(), &[("a/b.conf", b"x = 1\n"), ("c.txt", b"hello")]);
    assert_eq!(check(&layer, &bundle, Limits::STANDARD), Vec::<String>::new());
    let into = tmp.path().join("out/unpacked");
    unpack(&layer[..], bundle.layer(), &bundle.config, &into, Limits::STANDARD).unwrap();
    assert_eq!(fs_err::read(into.join("a/b.conf")).unwrap(), b"x = 1\n");
}

#[test]
fn limits_are_enforced_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, layer) = built(tmp.path(), &[("big.bin", &[7; 5000]), ("small.txt", b"ok")]);
    let per_file = Limits { max_file_size: 4096, ..Limits::STANDARD };
    assert_eq!(
        check(&layer, &bundle, per_file),
        ["file big.bin: 5000 bytes is above the limit of 4096 bytes: refused"]
    );
    let total = Limits { max_total_size: 5001, ..Limits::STANDARD };
    let findings = check(&layer, &bundle, total);
    assert!(findings[0].contains("holds more than 5001 bytes"), "{findings:?}");
    let entries = Limits { max_entries: 2, ..Limits::STANDARD };
    assert!(check(&layer, &bundle, entries)[0].contains("more than 2 entries"));

    let into = tmp.path().join("dest");
    let err = unpack(&layer[..], bundle.layer(), &bundle.config, &into, per_file).unwrap_err();
    assert!(matches!(err, UnpackError::Verification { .. }), "{err}");
    assert!(!into.exists());
    let staging: Vec<_> = fs_err::read_dir(tmp.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".baton-unpack"))
        .collect();
    assert!(staging.is_empty(), "the staging directory is removed");
}

#[test]
fn a_layer_that_is_not_the_one_the_manifest_names_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, _) = built(tmp.path(), &[("a.txt", b"one")]);
    let other = tempfile::tempdir().unwrap();
    let (_, other_layer) = built(other.path(), &[("a.txt", b"two")]);
    let findings = check(&other_layer, &bundle, Limits::STANDARD);
    assert!(
        findings.iter().any(|f| f.starts_with("file a.txt: content hashes to")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.contains(&format!("the manifest says {}", bundle.layer().digest))),
        "{findings:?}"
    );
    assert!(!findings.iter().any(|f| f.contains(&Digest::of(b"").to_string())));
}

#[test]
fn garbage_is_an_undecodable_layer_not_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, _) = built(tmp.path(), &[("a.txt", b"one")]);
    let findings = check(b"definitely not gzip", &bundle, Limits::STANDARD);
    assert!(findings.iter().any(|f| f.contains("is not a valid gzip")), "{findings:?}");
}
