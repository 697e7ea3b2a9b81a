//! Provenance from git: repository (credentials stripped), commit, tree, cleanliness, reported by
//! the build and never inside the bundle, whose digest is its files alone: the same files give
//! the same digest in any clone, at any commit and outside git; a dirty tree is refused.

use std::path::Path;

use baton_build::{BuildReport, InspectReport};
use baton_tests::{baton, copy_tree, git, git_at, repo_root, stderr, stdout_typed};

/// A git repository at `dir` holding examples/web under `deploy/web`, committed, with an origin
/// URL that carries credentials.
fn repository(dir: &Path) {
    copy_tree(&repo_root().join("examples/web"), &dir.join("deploy/web"));
    fs_err::write(dir.join("README.md"), "infra\n").unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(
        dir,
        &[
            "remote",
            "add",
            "origin",
            "https://deploy-bot:s3cr3t-token@git.example.com/team/infra.git",
        ],
    );
    git(dir, &["add", "-A"]);
    git_at(dir, &["commit", "-q", "-m", "web 1.4.2"], "2026-01-02T03:04:05Z");
}

fn build(cwd: &Path, extra: &[&str]) -> std::process::Output {
    baton(cwd)
        .args(["bundle", "build", "deploy/web", "--store", "oci:store", "--output", "json"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn provenance_is_recorded_without_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("infra");
    repository(&repo);
    let output = build(&repo, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: BuildReport = stdout_typed(&output);
    let source = json.source.as_ref().unwrap();
    assert_eq!(source.repository.as_deref(), Some("https://git.example.com/team/infra.git"));
    assert_eq!(source.commit, git(&repo, &["rev-parse", "HEAD"]));
    assert_eq!(source.tree, git(&repo, &["rev-parse", "HEAD:deploy/web"]));
    assert_eq!(source.path, "deploy/web");
    assert!(source.clean);
    assert!(!json.unchanged);

    let inspect = baton(&repo)
        .args(["bundle", "inspect", "oci:store/web:1.4.2", "--output", "json"])
        .output()
        .unwrap();
    let inspected: InspectReport = stdout_typed(&inspect);
    // Nothing of the commit, the repository or the time is in the bundle.
    let annotations = &inspected.manifest.annotations;
    let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
    assert_eq!(keys, ["org.opencontainers.image.title", "org.opencontainers.image.version"]);
    assert_eq!(inspected.config.format, 2);
    assert!(inspected.config.source.is_none() && inspected.config.created.is_none());
    let config_text = serde_json::to_string(&inspected.config).unwrap();
    assert!(!config_text.contains(&source.commit), "{config_text}");
    assert!(!config_text.contains("git.example.com"), "{config_text}");
    // And every entry's mtime is 0 (SOURCE_DATE_EPOCH unset), not the commit time.
    let layer = baton_tests::blob_path(&repo.join("store"), "web", &json.layer.digest.to_string());
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(fs_err::File::open(layer).unwrap()));
    for entry in archive.entries().unwrap() {
        assert_eq!(entry.unwrap().header().mtime().unwrap(), 0);
    }
}

/// The same descriptor at a later commit of the monorepo, with only an unrelated file changed:
/// the same digest; the rebuild says so, writes nothing and moves no tag. A copy of the files
/// outside git gives that digest too. A change to the descriptor's own files gives another.
#[test]
fn the_digest_is_the_files_at_any_commit_and_a_rebuild_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("infra");
    repository(&repo);
    let first: BuildReport = stdout_typed(&build(&repo, &[]));
    let store = repo.join("store");
    let index = store.join("web/index.json");
    let before =
        (fs_err::read(&index).unwrap(), fs_err::metadata(&index).unwrap().modified().unwrap());

    fs_err::write(repo.join("README.md"), "infra, edited\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "an unrelated change"]);
    let output = build(&repo, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let second: BuildReport = stdout_typed(&output);
    assert_eq!(second.digest, first.digest);
    assert!(second.unchanged, "{second:?}");
    assert!(second.moved_from.is_none());
    assert_ne!(second.source.unwrap().commit, first.source.as_ref().unwrap().commit);
    let after =
        (fs_err::read(&index).unwrap(), fs_err::metadata(&index).unwrap().modified().unwrap());
    assert_eq!(before, after, "the rebuild rewrote the index");
    let people = baton(&repo)
        .args(["bundle", "build", "deploy/web", "--store", "oci:store"])
        .output()
        .unwrap();
    assert!(stderr(&people).contains("Unchanged"), "{}", stderr(&people));
    assert!(stderr(&people).contains("nothing written"), "{}", stderr(&people));

    let outside = tmp.path().join("outside");
    copy_tree(&repo.join("deploy/web"), &outside.join("web"));
    let elsewhere = baton(&outside)
        .args(["bundle", "build", "web", "--store", "oci:store", "--output", "json"])
        .output()
        .unwrap();
    let elsewhere: BuildReport = stdout_typed(&elsewhere);
    assert_eq!(elsewhere.digest, first.digest);
    assert!(elsewhere.source.is_none());

    fs_err::write(repo.join("deploy/web/conf/nginx.conf"), "changed for real\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "web: new config"]);
    let changed: BuildReport = stdout_typed(&build(&repo, &[]));
    assert_ne!(changed.digest, first.digest);
    assert_eq!(changed.moved_from.as_ref(), Some(&first.digest), "same version, new content");
}

#[test]
fn two_clones_of_one_commit_give_one_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("infra");
    repository(&repo);
    let clone = tmp.path().join("elsewhere/clone");
    fs_err::create_dir_all(clone.parent().unwrap()).unwrap();
    git(tmp.path(), &["clone", "-q", repo.to_str().unwrap(), clone.to_str().unwrap()]);
    git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            "https://deploy-bot:s3cr3t-token@git.example.com/team/infra.git",
        ],
    );
    let a: BuildReport = stdout_typed(&build(&repo, &[]));
    let b: BuildReport = stdout_typed(&build(&clone, &[]));
    assert_eq!(a.digest, b.digest);
}

#[test]
fn a_dirty_tree_is_refused_unless_allowed_and_then_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("infra");
    repository(&repo);
    fs_err::write(repo.join("deploy/web/conf/nginx.conf"), "edited by hand\n").unwrap();
    fs_err::write(repo.join("deploy/web/html/new.html"), "untracked\n").unwrap();
    fs_err::remove_file(repo.join("deploy/web/html/assets/site.css")).unwrap();
    // A change elsewhere in the repository does not make the descriptor dirty.
    fs_err::write(repo.join("README.md"), "changed\n").unwrap();

    let output = build(&repo, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    for needle in ["conf/nginx.conf", "html/new.html", "html/assets/site.css", "--allow-dirty"] {
        assert!(err.contains(needle), "expected {needle:?} in {err}");
    }
    assert!(!err.contains("README.md"), "{err}");
    assert!(!repo.join("store").exists(), "a refused build writes nothing");

    let output = build(&repo, &["--allow-dirty"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout_typed::<BuildReport>(&output).source.unwrap().clean);
}

#[test]
fn excluded_files_do_not_make_a_tree_dirty() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("infra");
    repository(&repo);
    fs_err::write(repo.join("deploy/web/conf/nginx.conf.swp"), "editor swap file\n").unwrap();
    let output = build(&repo, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout_typed::<BuildReport>(&output).source.unwrap().clean);
}
