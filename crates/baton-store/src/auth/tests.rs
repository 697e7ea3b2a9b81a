//! Credential lookup against real files and a real credential-helper program.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

#[test]
fn auths_entries_in_order_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("auth.json");
    let second = dir.path().join("docker/config.json");
    // base64("deploy:s3cret")
    write(
        &first,
        r#"{"auths": {"https://registry.example.com/v1/": {"auth": "ZGVwbG95OnMzY3JldA=="}}}"#,
    );
    write(
        &second,
        r#"{"auths": {"localhost:5000": {"username": "ci", "password": "pw"}, "registry.example.com": {"auth": "eDp5"}}}"#,
    );
    let config = AuthConfig {
        files: vec![dir.path().join("missing.json"), first.clone(), second.clone()],
        helper_path: None,
    };

    let found = find_credential(&config, "registry.example.com").unwrap();
    assert_eq!(
        found.credential,
        Credential::Basic { username: "deploy".into(), password: "s3cret".into() }
    );
    assert!(found.source.contains("auth.json"), "{}", found.source);
    let found = find_credential(&config, "localhost:5000").unwrap();
    assert_eq!(
        found.credential,
        Credential::Basic { username: "ci".into(), password: "pw".into() }
    );
    assert_eq!(
        find_credential(&config, "other.example.com").unwrap().credential,
        Credential::Anonymous
    );
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let credential = Credential::Basic { username: "deploy".into(), password: "s3cret".into() };
    let shown = format!("{credential:?}");
    assert!(shown.contains("deploy") && !shown.contains("s3cret"), "{shown}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    write(&file, r#"{"auths": {"h.example.com": {"auth": "bm90LWEtcGFpcg=="}}}"#);
    let config = AuthConfig { files: vec![file], helper_path: None };
    let err = find_credential(&config, "h.example.com").unwrap_err().to_string();
    assert!(
        err.contains("does not decode to `user:password`") && !err.contains("not-a-pair"),
        "{err}"
    );
}

#[test]
fn credential_helpers_are_real_programs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-baton-test");
    // A real helper: answers for one host, says "not found" for others, as the protocol says.
    write(
        &helper,
        "#!/bin/sh\nread host\nif [ \"$host\" = \"helped.example.com\" ]; then\n  printf '{\"ServerURL\":\"%s\",\"Username\":\"robot\",\"Secret\":\"t0ken\"}' \"$host\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
    );
    fs_err::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("config.json");
    write(
        &file,
        r#"{"credHelpers": {"helped.example.com": "baton-test"}, "credsStore": "baton-test"}"#,
    );

    // The helper is found on PATH, as docker finds it.
    let config = AuthConfig { files: vec![file], helper_path: Some(bin.into_os_string()) };
    let found = find_credential(&config, "helped.example.com").unwrap();
    assert_eq!(
        found.credential,
        Credential::Basic { username: "robot".into(), password: "t0ken".into() }
    );
    assert!(
        found.source.contains("credHelpers") && !found.source.contains("t0ken"),
        "{}",
        found.source
    );
    // credsStore answers "not found" for another host: anonymous, not an error.
    assert_eq!(
        find_credential(&config, "other.example.com").unwrap().credential,
        Credential::Anonymous
    );
}

#[test]
fn a_missing_helper_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    write(&file, r#"{"credsStore": "nonexistent-helper"}"#);
    let config =
        AuthConfig { files: vec![file], helper_path: Some(dir.path().as_os_str().to_owned()) };
    let err = find_credential(&config, "h.example.com").unwrap_err().to_string();
    assert!(
        err.contains("docker-credential-nonexistent-helper") && err.contains("h.example.com"),
        "{err}"
    );
}
