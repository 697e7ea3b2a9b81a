//! Bad input gets a clear error that names the file, field, path or digest, and loses nothing.

use std::path::Path;

use baton_tests::{baton, build_json, example, stderr};

/// Builds `dir` into `oci:store` in `cwd`, expects exit `code`, and returns stderr.
fn build_fails(cwd: &Path, dir: &Path, code: i32) -> String {
    let output = baton(cwd)
        .args(["bundle", "build"])
        .arg(dir)
        .args(["--store", "oci:store"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert!(output.stdout.is_empty(), "nothing on stdout when failing");
    stderr(&output)
}

fn descriptor(tmp: &Path, bundle_toml: &str) -> std::path::PathBuf {
    let dir = tmp.join("d");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("bundle.toml"), bundle_toml).unwrap();
    fs_err::write(dir.join("app.conf"), "x = 1\n").unwrap();
    dir
}

fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

#[test]
fn missing_bundle_toml() {
    let tmp = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(tmp.path().join("d")).unwrap();
    let err = build_fails(tmp.path(), &tmp.path().join("d"), 1);
    assert_contains(
        &err,
        &["no bundle.toml at", "d/bundle.toml", "a descriptor is a directory with a bundle.toml"],
    );
    assert!(!tmp.path().join("store").exists(), "a failed build creates no store");
}

#[test]
fn malformed_bundle_toml_names_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(tmp.path(), "[bundle]\nname = \"web\"\nversion = 1.4.2\n");
    let err = build_fails(tmp.path(), &dir, 1);
    assert_contains(&err, &["d/bundle.toml", "line 3, column"]);
}

#[test]
fn unknown_keys_name_the_key_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(
        tmp.path(),
        "[bundle]\nname = \"web\"\nversion = \"1.0.0\"\n\n[params.port]\ntype = \"integer\"\nmaximun = 3\n",
    );
    let err = build_fails(tmp.path(), &dir, 1);
    assert_contains(&err, &["d/bundle.toml", "unknown field `maximun`", "line 7"]);
}

#[test]
fn bad_name_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(tmp.path(), "[bundle]\nname = \"My_Web\"\nversion = \"1.0.0\"\n");
    assert_contains(
        &build_fails(tmp.path(), &dir, 1),
        &["bundle name `My_Web` is not valid", "line 2"],
    );
    let dir = descriptor(tmp.path(), "[bundle]\nname = \"web\"\nversion = \"v1\"\n");
    assert_contains(
        &build_fails(tmp.path(), &dir, 1),
        &["version `v1` is not a semantic version", "line 3"],
    );
}

#[test]
fn a_parameter_schema_that_contradicts_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(
        tmp.path(),
        "[bundle]\nname = \"web\"\nversion = \"1.0.0\"\n\n[params.level]\ntype = \"string\"\ndefault = \"loud\"\nenum = [\"quiet\", \"normal\"]\n\n[params.port]\ntype = \"integer\"\nminimum = 10\nmaximum = 5\n",
    );
    let err = build_fails(tmp.path(), &dir, 1);
    assert_contains(
        &err,
        &[
            "d/bundle.toml",
            "parameter `level`",
            "`default` \"loud\": not one of the allowed values",
            "parameter `port`",
            "`minimum` (10) is greater than `maximum` (5)",
        ],
    );
}

#[test]
fn an_escaping_symlink_is_refused_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(tmp.path(), "[bundle]\nname = \"web\"\nversion = \"1.0.0\"\n");
    fs_err::write(tmp.path().join("secret.txt"), "outside").unwrap();
    fs_err::create_dir_all(dir.join("conf")).unwrap();
    fs_err::os::unix::fs::symlink("../../secret.txt", dir.join("conf/leak")).unwrap();
    let err = build_fails(tmp.path(), &dir, 1);
    assert_contains(&err, &["symlink", "conf/leak", "../../secret.txt", "outside the descriptor"]);

    // A chain of links that each look harmless but together leave the descriptor.
    fs_err::remove_file(dir.join("conf/leak")).unwrap();
    fs_err::os::unix::fs::symlink("..", dir.join("conf/up")).unwrap();
    fs_err::os::unix::fs::symlink("conf/up/conf/up/..", dir.join("sneaky")).unwrap();
    let err = build_fails(tmp.path(), &dir, 1);
    assert_contains(&err, &["symlink", "sneaky", "outside the descriptor"]);
}

#[test]
fn a_fifo_is_refused_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(tmp.path(), "[bundle]\nname = \"web\"\nversion = \"1.0.0\"\n");
    let status = std::process::Command::new("mkfifo").arg(dir.join("pipe")).status().unwrap();
    assert!(status.success());
    assert_contains(&build_fails(tmp.path(), &dir, 1), &["d/pipe", "device file, socket or FIFO"]);
}

#[test]
fn an_unreadable_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = descriptor(tmp.path(), "[bundle]\nname = \"web\"\nversion = \"1.0.0\"\n");
    let secret = dir.join("locked.conf");
    fs_err::write(&secret, "no").unwrap();
    let chmod = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(&secret, 0o000);
    chmod(tmp.path(), 0o777);
    chmod(&dir, 0o777);
    // root reads anything: run baton as `nobody` there, so the permission really applies. The
    // binary is copied beside the descriptor, since `nobody` may not reach the build directory.
    let mut cmd = if is_root() {
        let bin = tmp.path().join("baton");
        fs_err::copy(baton_tests::baton_bin(), &bin).unwrap();
        chmod(&bin, 0o755);
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(bin);
        cmd
    } else {
        std::process::Command::new(baton_tests::baton_bin())
    };
    let output = cmd
        .current_dir(tmp.path())
        .args(["bundle", "build", "d", "--store", "oci:store"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_contains(&stderr(&output), &["locked.conf", "Permission denied"]);
}

fn is_root() -> bool {
    let output = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

#[test]
fn a_store_path_that_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = example(tmp.path(), "web");
    fs_err::write(tmp.path().join("store"), "not a directory").unwrap();
    let err = build_fails(tmp.path(), &dir, 1);
    assert_contains(&err, &["store `oci:store` is a file, not a directory"]);
    assert_eq!(
        fs_err::read_to_string(tmp.path().join("store")).unwrap(),
        "not a directory",
        "the file is left alone"
    );
}

#[test]
fn references_that_do_not_parse_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (reference, message) in [
        ("oci:store/web", "names no tag or digest"),
        ("store/web:1.0.0", "names no store"),
        ("bad_host.example.com/web:1.0.0", "`bad_host.example.com` is not a valid registry host"),
        ("localhost:5000/Team/web:1.0.0", "path component `Team` is not valid"),
        ("oci:store/Web:1.0.0", "bundle name `Web` is not valid"),
        ("oci:store/web@sha256:1234", "64 lowercase hex digits"),
        ("oci:store/web:-bad", "is not a valid OCI tag"),
    ] {
        let output = baton(tmp.path()).args(["bundle", "verify", reference]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{reference}");
        assert_contains(&stderr(&output), &[reference, message]);
    }
}

#[test]
fn a_digest_or_tag_not_in_the_store_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let missing = format!("sha256:{}", "ab".repeat(32));
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("oci:store/web@{missing}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &stderr(&output),
        &[&missing, "is not in store `oci:store`", "hint: `baton bundle list --store oci:store`"],
    );

    let output =
        baton(tmp.path()).args(["bundle", "inspect", "oci:store/web:9.9.9"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), &["tag `9.9.9` of bundle `web` is not in store `oci:store`"]);

    let output =
        baton(tmp.path()).args(["bundle", "inspect", "oci:store/nope:1.0.0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), &["bundle `nope` is not in store `oci:store`"]);
    // The next step is the JSON document's hint too.
    let output = baton(tmp.path())
        .args(["bundle", "inspect", "oci:store/nope:1.0.0", "--output", "json"])
        .output()
        .unwrap();
    let document: baton::document::ErrorDocument = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        document.error.hint.as_deref(),
        Some("`baton bundle list --store oci:store` lists what the store holds"),
        "{document:?}"
    );
}

#[test]
fn a_bad_source_date_epoch_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    example(tmp.path(), "web");
    let output = baton(tmp.path())
        .args(["bundle", "build", "web", "--store", "oci:store"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &stderr(&output),
        &["SOURCE_DATE_EPOCH is `yesterday`", "whole seconds since 1970-01-01 UTC"],
    );
    assert!(!tmp.path().join("store").exists());
}
