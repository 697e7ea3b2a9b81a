//! The safe defaults, checked on a real file system.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn atomic_writes_replace_whole_files_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.json");
    write_atomic(&path, b"one").unwrap();
    write_atomic(&path, b"two").unwrap();
    assert_eq!(fs_err::read(&path).unwrap(), b"two");
    // The test runs under a umask that leaves group and others read access (022 or 002).
    assert_eq!(mode(&path) & 0o044, 0o044, "{:o}", mode(&path));
    let left: Vec<_> =
        fs_err::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["index.json"]);
}

#[test]
fn an_uncommitted_file_leaves_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pin.toml");
    write_atomic(&path, b"old").unwrap();
    let mut file = AtomicFile::create_with_mode(&path, 0o600).unwrap();
    file.write_all(b"new").unwrap();
    drop(file);
    assert_eq!(fs_err::read(&path).unwrap(), b"old");
    let mut file = AtomicFile::create_with_mode(&path, 0o600).unwrap();
    file.write_all(b"secret").unwrap();
    file.commit().unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_held_lock_is_busy_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".lock");
    let held = LockFile::try_acquire(&path).unwrap().unwrap();
    let busy = LockFile::try_acquire(&path).unwrap().unwrap_err();
    assert_eq!(busy.path, path);
    drop(held);
    assert!(LockFile::try_acquire(&path).unwrap().is_ok());
}

#[test]
fn files_hash_as_sha256sum_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs_err::write(&path, b"abc").unwrap();
    assert_eq!(
        hash_file(&path).unwrap().to_string(),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let missing = write_atomic(&dir.path().join("no/such/dir/f"), b"").unwrap_err();
    assert!(missing.to_string().contains("no/such/dir"), "{missing}");
}
