//! `baton bundle verify` re-hashes everything and exits 4 naming the blob or file at fault.

use std::path::Path;

use baton_build::{BuildReport, VerifyReport};
use baton_tests::{baton, blob_path, build_json, example, stdout, stdout_typed};
use serde_json::Value;

fn built(tmp: &Path) -> BuildReport {
    build_json(tmp, &example(tmp, "web"), &tmp.join("store"), &[])
}

fn verify(tmp: &Path, digest: &str) -> (Option<i32>, VerifyReport) {
    let output = baton(tmp)
        .args(["bundle", "verify", &format!("oci:store/web@{digest}"), "--output", "json"])
        .output()
        .unwrap();
    (output.status.code(), stdout_typed(&output))
}

#[test]
fn a_sound_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let json = built(tmp.path());
    let output =
        baton(tmp.path()).args(["bundle", "verify", "oci:store/web:1.4.2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("verified"), "{}", stdout(&output));
    let (code, report) = verify(tmp.path(), &json.digest.to_string());
    assert_eq!(code, Some(0));
    assert!(report.ok);
    assert_eq!(report.files, Some(9));
    // The auditor's spelling, `baton verify`, is the same command.
    let output = baton(tmp.path()).args(["verify", "oci:store/web:1.4.2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("verified"), "{}", stdout(&output));
}

#[test]
fn a_layer_modified_on_disk_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let json = built(tmp.path());
    let layer = &*json.layer.digest.to_string();
    let path = blob_path(&tmp.path().join("store"), "web", layer);
    let mut bytes = fs_err::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs_err::write(&path, &bytes).unwrap();
    let (code, report) = verify(tmp.path(), &json.digest.to_string());
    assert_eq!(code, Some(4), "{report:?}");
    let findings = &report.findings;
    let subject = format!("layer {layer}");
    assert!(
        findings.iter().any(|f| f.subject == subject && f.problem.contains("hash")),
        "{report:?}"
    );
}

#[test]
fn a_truncated_layer_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let json = built(tmp.path());
    let layer = &*json.layer.digest.to_string();
    let path = blob_path(&tmp.path().join("store"), "web", layer);
    let bytes = fs_err::read(&path).unwrap();
    fs_err::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    let output =
        baton(tmp.path()).args(["bundle", "verify", "oci:store/web:1.4.2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    let text = stdout(&output);
    assert!(text.contains("FAILED") && text.contains(&format!("layer {layer}")), "{text}");
}

#[test]
fn a_modified_config_or_manifest_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let json = built(tmp.path());
    let store = tmp.path().join("store");
    let config = &*json.config.digest.to_string();
    let path = blob_path(&store, "web", config);
    let text = fs_err::read_to_string(&path).unwrap().replace("\"0755\"", "\"0644\"");
    fs_err::write(&path, text).unwrap();
    let (code, report) = verify(tmp.path(), &json.digest.to_string());
    assert_eq!(code, Some(4));
    assert_eq!(report.findings[0].subject, format!("config {config}"));

    let digest = &*json.digest.to_string();
    fs_err::write(blob_path(&store, "web", digest), b"{}").unwrap();
    let (code, report) = verify(tmp.path(), digest);
    assert_eq!(code, Some(4));
    assert_eq!(report.findings[0].subject, format!("manifest {digest}"));
}

#[test]
fn a_missing_layer_is_a_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let json = built(tmp.path());
    let layer = &*json.layer.digest.to_string();
    fs_err::remove_file(blob_path(&tmp.path().join("store"), "web", layer)).unwrap();
    let (code, report) = verify(tmp.path(), &json.digest.to_string());
    assert_eq!(code, Some(4));
    assert_eq!(report.findings[0].problem, "is missing from the store");
}

#[test]
fn a_file_that_disagrees_with_the_index_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let digest = baton_tests::craft_bundle(
        &store,
        "web",
        &[baton_tests::Crafted::File("conf/app.conf", b"fine")],
    );
    // Rewrite the config's index entry for the file and re-point the manifest and index at it.
    let layout = store.join("web");
    let manifest_path = blob_path(&store, "web", &digest);
    let mut manifest: Value =
        serde_json::from_slice(&fs_err::read(&manifest_path).unwrap()).unwrap();
    let config_path = blob_path(&store, "web", manifest["config"]["digest"].as_str().unwrap());
    let mut config: Value = serde_json::from_slice(&fs_err::read(&config_path).unwrap()).unwrap();
    config["files"][0]["sha256"] = Value::from(format!("sha256:{}", "0".repeat(64)));
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = baton_model::Digest::of(&config_bytes);
    fs_err::write(layout.join("blobs/sha256").join(config_digest.hex()), &config_bytes).unwrap();
    manifest["config"]["digest"] = Value::from(config_digest.to_string());
    manifest["config"]["size"] = Value::from(config_bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = baton_model::Digest::of(&manifest_bytes);
    fs_err::write(layout.join("blobs/sha256").join(manifest_digest.hex()), &manifest_bytes)
        .unwrap();

    let (code, report) = verify(tmp.path(), &manifest_digest.to_string());
    assert_eq!(code, Some(4));
    assert_eq!(report.findings[0].subject, "file conf/app.conf");
    assert!(report.findings[0].problem.contains("the index says sha256:0000"), "{report:?}");
}

/// A layer large enough that its compressed and tar streams are hashed on helper threads:
/// sound, it verifies and unpacks; one byte changed in its stored (incompressible) part, it is
/// named, and unpack writes nothing.
#[test]
fn a_large_layer_hashed_on_helper_threads_is_checked_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = example(tmp.path(), "web");
    let mut noise = vec![0u8; 12 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state.to_le_bytes()[0];
    }
    fs_err::write(dir.join("html/noise.bin"), &noise).unwrap();
    let json = build_json(tmp.path(), &dir, &tmp.path().join("store"), &[]);
    let digest = &*json.digest.to_string();
    let layer = &*json.layer.digest.to_string();
    let path = blob_path(&tmp.path().join("store"), "web", layer);
    assert!(fs_err::metadata(&path).unwrap().len() > 8 << 20);
    assert_eq!(verify(tmp.path(), digest).0, Some(0));
    let unpack = |to: &str| {
        baton(tmp.path())
            .args(["bundle", "unpack", &format!("oci:store/web@{digest}"), "--into", to])
            .output()
            .unwrap()
    };
    assert_eq!(unpack("sound").status.code(), Some(0));
    assert_eq!(fs_err::read(tmp.path().join("sound/html/noise.bin")).unwrap(), noise);
    let mut bytes = fs_err::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs_err::write(&path, &bytes).unwrap();
    let (code, report) = verify(tmp.path(), digest);
    assert_eq!(code, Some(4), "{report:?}");
    let findings = &report.findings;
    assert!(
        findings
            .iter()
            .any(|f| f.subject == format!("layer {layer}") && f.problem.contains("bytes hash to")),
        "{report:?}"
    );
    assert!(
        findings.iter().any(|f| f.subject == "file html/noise.bin"),
        "the changed file is named too: {report:?}"
    );
    assert_ne!(unpack("damaged").status.code(), Some(0));
    assert!(!tmp.path().join("damaged").exists());
}
