//! The state repository against real git: commits git accepts, a clean `git status` afterwards,
//! and compare-and-swap that refuses a stale writer.

use std::process::Command;

use super::*;

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn who() -> Identity {
    Identity { name: "Baton Test".into(), email: "test@example.com".into() }
}

fn change(path: &str, text: &str) -> FileChange {
    FileChange { path: path.into(), content: Some(text.as_bytes().to_vec()) }
}

#[test]
fn commits_keep_git_status_clean_and_refuse_stale_writers() {
    let dir = tempfile::tempdir().unwrap();
    let repo = StateRepo::init(dir.path()).unwrap();
    let empty = repo.snapshot().unwrap();
    assert!(empty.commit.is_none());
    assert!(matches!(repo.head(), Err(StateError::Unborn { .. })));

    let first = repo
        .commit(
            &empty,
            &[change("baton.toml", "x = 1\n"), change("state/dev/.keep", "")],
            "init\n",
            &who(),
            1_700_000_000,
            None,
        )
        .unwrap();
    assert_eq!(git_in(dir.path(), &["status", "--porcelain"]), "");
    let head = repo.head().unwrap();
    assert_eq!(head.commit, Some(first));
    assert_eq!(repo.read(&head, "baton.toml").unwrap().unwrap(), b"x = 1\n");
    assert_eq!(repo.list(&head, "state").unwrap()[0].0, "dev");

    let second = repo
        .commit(
            &head,
            &[change("state/dev/web.toml", "digest = 1\n")],
            "pin\n\nBaton-Action: promote\n",
            &who(),
            1_700_000_100,
            None,
        )
        .unwrap();
    assert_eq!(git_in(dir.path(), &["status", "--porcelain"]), "");
    assert_eq!(git_in(dir.path(), &["rev-parse", "HEAD"]).trim(), second.to_string());
    git_in(dir.path(), &["fsck", "--strict"]);

    // A writer that read `head` before `second` landed loses, and nothing of it lands.
    let stale = repo.commit(
        &head,
        &[change("state/dev/api.toml", "digest = 2\n")],
        "late\n",
        &who(),
        1_700_000_200,
        None,
    );
    assert!(matches!(stale, Err(StateError::Moved { .. })), "{stale:?}");
    assert!(!dir.path().join("state/dev/api.toml").exists());

    // A hand edit in the work tree is never overwritten.
    fs_err::write(dir.path().join("state/dev/web.toml"), "digest = 3\n").unwrap();
    let now = repo.head().unwrap();
    assert_eq!(repo.dirty_paths(&now, &[], &["state".into()]).unwrap(), vec!["state/dev/web.toml"]);
    let refused = repo.commit(
        &now,
        &[change("state/dev/web.toml", "digest = 4\n")],
        "pin\n",
        &who(),
        1_700_000_300,
        None,
    );
    assert!(matches!(refused, Err(StateError::Dirty { .. })), "{refused:?}");
    assert_eq!(
        fs_err::read_to_string(dir.path().join("state/dev/web.toml")).unwrap(),
        "digest = 3\n"
    );

    let log: Vec<CommitInfo> = repo.commits(second).unwrap().map(Result::unwrap).collect();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].time, 1_700_000_100);
    assert!(log[0].message.contains("Baton-Action: promote"));
    assert_eq!(log[0].parents, vec![first]);
}

/// A detached HEAD (a CI checkout) is read at the commit checked out; writing is refused.
#[test]
fn a_detached_head_is_read_but_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let repo = StateRepo::init(dir.path()).unwrap();
    let id = repo
        .commit(&repo.snapshot().unwrap(), &[change("a", "1")], "a\n", &who(), 1, None)
        .unwrap();
    git_in(dir.path(), &["checkout", "-q", "--detach", &id.to_string()]);
    let detached = StateRepo::discover(dir.path()).unwrap();
    let snapshot = detached.head().unwrap();
    assert_eq!(snapshot.commit, Some(id));
    let refused = detached.commit(&snapshot, &[change("b", "2")], "b\n", &who(), 2, None);
    assert!(matches!(refused, Err(StateError::Detached { .. })), "{refused:?}");
}

#[test]
fn discovery_says_what_actually_happened() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("plain");
    fs_err::create_dir_all(&nowhere).unwrap();
    // Nothing found up to the root: the one case where `baton init` is the answer (a temporary
    // directory has no repository above it on this machine).
    // (A repository above the temp dir, as in some containers, is reported as what it is.)
    let found = StateRepo::discover(&nowhere).err();
    assert!(
        matches!(found, Some(StateError::NotFound { .. } | StateError::Broken { .. })),
        "{found:?}"
    );
    // A directory that does not exist.
    let missing = dir.path().join("missing");
    assert!(matches!(StateRepo::discover(&missing), Err(StateError::Unreadable { .. })));
    // A `.git` that is not a repository.
    let broken = dir.path().join("broken");
    fs_err::create_dir_all(broken.join(".git")).unwrap();
    fs_err::write(broken.join(".git/HEAD"), "garbage").unwrap();
    let error = StateRepo::discover(&broken).err().unwrap();
    assert!(
        matches!(error, StateError::Broken { ref git_dir, .. } if *git_dir == broken.join(".git")),
        "{error}"
    );
    assert!(error.to_string().contains("git -C"), "{error}");
}
