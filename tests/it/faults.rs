//! Faults against real registry processes: transient failures are retried with backoff, a
//! registry that never answers gives a clear error, and a registry killed during a push leaves
//! no tag behind while the rerun completes.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use baton_tests::{baton, baton_bin, build_json, example, repo_root, stderr};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a registry with storage in `dir` on `port`; returns `HOST:PORT`.
fn start_registry(dir: &Path, port: u16) -> String {
    let output = Command::new(repo_root().join("scripts/registry.sh"))
        .arg("start")
        .arg(dir)
        .env("REGISTRY_PORT", port.to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "registry.sh: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn stop_registry(dir: &Path) {
    let _ = Command::new(repo_root().join("scripts/registry.sh")).arg("stop").arg(dir).status();
}

/// Starts `baton bundle copy FROM TO` in `cwd` without waiting for it.
fn spawn_copy(cwd: &Path, from: &str, to: &str) -> std::process::Child {
    Command::new(baton_bin())
        .args(["bundle", "copy", from, to])
        .current_dir(cwd)
        .env("DOCKER_CONFIG", cwd.join("no-config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_registry_that_comes_up_late_is_reached_by_retrying() {
    let tmp = tempfile::tempdir().unwrap();
    build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let port = free_port();
    let child = spawn_copy(tmp.path(), "oci:store/web:1.4.2", &format!("127.0.0.1:{port}/late"));
    std::thread::sleep(Duration::from_millis(300));
    let registry_dir = tmp.path().join("registry");
    start_registry(&registry_dir, port);
    let output = child.wait_with_output().unwrap();
    stop_registry(&registry_dir);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("transient failure; retrying"),
        "the retry is logged: {}",
        stderr(&output)
    );
}

#[test]
fn a_registry_that_never_answers_gives_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let port = free_port();
    let output = baton(tmp.path())
        .args(["bundle", "copy", "oci:store/web:1.4.2", &format!("127.0.0.1:{port}/never")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("registry store `127.0.0.1:{port}/never`")), "{err}");
    assert!(err.to_lowercase().contains("connect"), "the cause is named: {err}");
}

#[test]
fn a_registry_killed_during_a_push_leaves_no_tag_and_the_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    // A bundle large enough that the push is still running when the registry dies.
    let big = tmp.path().join("big");
    fs_err::create_dir_all(&big).unwrap();
    fs_err::write(big.join("bundle.toml"), "[bundle]\nname = \"big\"\nversion = \"1.0.0\"\n")
        .unwrap();
    let mut state = 0x2545_f491_u64;
    let mut noise = vec![0u8; 96 << 20];
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state.to_le_bytes()[3];
    }
    fs_err::write(big.join("noise.bin"), &noise).unwrap();
    drop(noise);
    build_json(tmp.path(), &big, &tmp.path().join("store"), &[]);

    let port = free_port();
    let registry_dir = tmp.path().join("registry");
    let host = start_registry(&registry_dir, port);
    let child = spawn_copy(tmp.path(), "oci:store/big:1.0.0", &format!("{host}/fault"));
    std::thread::sleep(Duration::from_millis(150));
    stop_registry(&registry_dir);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "the push must fail: {}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains(&format!("registry store `{host}/fault`")), "{err}");

    // The registry comes back with the same storage: no tag was written, and a rerun completes.
    start_registry(&registry_dir, port);
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{host}/fault/big:1.0.0")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "no tag may exist after a failed push");
    assert!(
        stderr(&output).contains("tag `1.0.0` of bundle `big` is not in store"),
        "{}",
        stderr(&output)
    );
    let output = baton(tmp.path())
        .args(["bundle", "copy", "oci:store/big:1.0.0", &format!("{host}/fault")])
        .output()
        .unwrap();
    let verified = baton(tmp.path())
        .args(["bundle", "verify", &format!("{host}/fault/big:1.0.0")])
        .output()
        .unwrap();
    stop_registry(&registry_dir);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stdout));
}
