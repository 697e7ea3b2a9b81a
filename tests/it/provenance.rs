//! Provenance from git: repository (credentials stripped), commit, tree, cleanliness; commit time
//! as mtime; the same commit gives the same digest in any clone; a dirty tree is refused.

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
    assert_eq!(
        json.created, "2026-01-02T03:04:05Z",
        "the commit time is the mtime when SOURCE_DATE_EPOCH is unset"
    );

    let inspect = baton(&repo)
        .args(["bundle", "inspect", "oci:store/web:1.4.2", "--output", "json"])
        .output()
        .unwrap();
    let inspected: InspectReport = stdout_typed(&inspect);
    let annotations = &inspected.manifest.annotations;
    assert_eq!(annotations["org.opencontainers.image.revision"], source.commit);
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://git.example.com/team/infra.git"
    );
    let config_text = serde_json::to_string(&inspected.config).unwrap();
    assert!(
        !config_text.contains("s3cr3t") && !config_text.contains("deploy-bot"),
        "credentials leaked: {config_text}"
    );
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
