//! `baton bundle build`, `list` and `inspect` on the examples.

use baton_build::{BuildReport, InspectReport, ListedBundle};
use baton_tests::{baton, blob_path, build_json, example, stdout, stdout_typed};

#[test]
fn build_prints_the_reference_and_json_has_the_promised_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let web = example(tmp.path(), "web");
    let output = baton(tmp.path())
        .args(["bundle", "build", "web", "--store", "oci:store"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout(&output);
    let (name_version, digest) = line.trim().split_once('@').unwrap();
    assert_eq!(name_version, "web:1.4.2");
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");

    let json = build_json(tmp.path(), &web, &tmp.path().join("store"), &[]);
    let raw = serde_json::to_value(&json).unwrap();
    for field in ["name", "version", "digest", "reference", "size"] {
        assert!(raw.get(field).is_some(), "missing {field} in {raw}");
    }
    assert_eq!(json.name, "web");
    assert_eq!(json.version, "1.4.2");
    let digest = &*json.digest.to_string();
    assert_eq!(json.reference, format!("oci:{}/web@{digest}", tmp.path().join("store").display()));
    let manifest = fs_err::read(blob_path(&tmp.path().join("store"), "web", digest)).unwrap();
    let layer = &json.layer;
    let config = &json.config;
    let total = manifest.len() as u64 + layer.size + config.size;
    assert_eq!(json.size, total);
    assert!(json.source.is_none(), "a copy outside git has no source: {json:?}");
}

#[test]
fn rebuilding_the_same_bundle_changes_nothing_in_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let web = example(tmp.path(), "web");
    let store = tmp.path().join("store");
    let first = build_json(tmp.path(), &web, &store, &[]);
    let snapshot = |dir: &std::path::Path| {
        let mut files: Vec<(String, Vec<u8>)> = walk(dir)
            .into_iter()
            .map(|p| (p.display().to_string(), fs_err::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&store);
    let second = build_json(tmp.path(), &web, &store, &[]);
    assert_eq!(first.digest, second.digest);
    assert_eq!(snapshot(&store), before, "a rebuild must leave the store byte for byte as it was");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn list_and_inspect_show_what_was_built() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let web = build_json(tmp.path(), &example(tmp.path(), "web"), &store, &[]);
    let k8s = build_json(tmp.path(), &example(tmp.path(), "k8s-app"), &store, &[]);

    let output =
        baton(tmp.path()).args(["bundle", "list", "--store", "oci:store"]).output().unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DIGEST") && lines[0].contains("SIZE"),
        "{text}"
    );
    assert!(lines[1].starts_with("k8s-app") && lines[1].contains("2.0.1"), "{text}");
    assert!(lines[2].starts_with("web") && lines[2].contains("1.4.2"), "{text}");

    let output = baton(tmp.path())
        .args(["bundle", "list", "--store", "oci:store", "--output", "json"])
        .output()
        .unwrap();
    let listed: Vec<ListedBundle> = stdout_typed(&output);
    let digests: Vec<_> = listed.iter().map(|b| &b.digest).collect();
    assert_eq!(digests, [&k8s.digest, &web.digest]);

    let output =
        baton(tmp.path()).args(["bundle", "inspect", "oci:store/web:1.4.2"]).output().unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    for expected in [
        "Bundle web 1.4.2",
        &*web.digest.to_string(),
        "server_name",
        "required",
        "secret",
        "conf/nginx.conf",
        "-> index.html",
        "0755",
        "scripts/reload.sh",
        "zlib-rs",
    ] {
        assert!(text.contains(expected), "inspect lacks {expected:?}:\n{text}");
    }

    let output = baton(tmp.path())
        .args(["bundle", "inspect", "oci:store/k8s-app:2.0.1", "--output", "json"])
        .output()
        .unwrap();
    let json: InspectReport = stdout_typed(&output);
    assert_eq!(json.digest, k8s.digest);
    assert_eq!(json.manifest.artifact_type.as_deref(), Some("application/vnd.baton.bundle.v1"));
    assert_eq!(json.config.params.specs()["replicas"].default, Some(serde_json::json!(2)));
    assert_eq!(json.manifest.annotations["org.opencontainers.image.version"], "2.0.1");
    let files: Vec<&str> = json.config.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        files,
        [
            "README.md",
            "bundle.toml",
            "kustomization.yaml",
            "manifests/configmap.yaml",
            "manifests/deployment.yaml",
            "manifests/service.yaml"
        ]
    );
}

#[test]
fn include_exclude_and_batonignore_choose_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    fs_err::create_dir_all(dir.join("conf/sub")).unwrap();
    fs_err::write(
        dir.join("bundle.toml"),
        "[bundle]\nname = \"d\"\nversion = \"0.1.0\"\ninclude = [\"bundle.toml\", \"conf/**\"]\nexclude = [\"**/*.swp\"]\n",
    )
    .unwrap();
    for file in ["conf/a.conf", "conf/a.conf.swp", "conf/sub/b.conf", "conf/sub/b.bak", "notes.txt"]
    {
        fs_err::write(dir.join(file), file).unwrap();
    }
    fs_err::write(dir.join("conf/.batonignore"), "*.bak\n").unwrap();
    let json = build_json(tmp.path(), &dir, &tmp.path().join("store"), &[]);
    let output = baton(tmp.path())
        .args([
            "bundle",
            "inspect",
            &format!("oci:store/d@{}", &*json.digest.to_string()),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let inspected: InspectReport = stdout_typed(&output);
    let files: Vec<&str> = inspected.config.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["bundle.toml", "conf/.batonignore", "conf/a.conf", "conf/sub/b.conf"]);
}

#[test]
fn concurrent_builds_into_one_store_keep_every_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let web = example(tmp.path(), "web");
    // Four versions of web and k8s-app, built by separate processes at the same time.
    let mut dirs = vec![example(tmp.path(), "k8s-app")];
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let dir = tmp.path().join(format!("web-{version}"));
        baton_tests::copy_tree(&web, &dir);
        let toml = fs_err::read_to_string(dir.join("bundle.toml"))
            .unwrap()
            .replace("version = \"1.4.2\"", &format!("version = \"{version}\""));
        fs_err::write(dir.join("bundle.toml"), toml).unwrap();
        dirs.push(dir);
    }
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            std::process::Command::new(baton_tests::baton_bin())
                .args(["bundle", "build"])
                .arg(dir)
                .args(["--store", "oci:store"])
                .current_dir(tmp.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let output = baton(tmp.path())
        .args(["bundle", "list", "--store", "oci:store", "--output", "json"])
        .output()
        .unwrap();
    let listed: Vec<ListedBundle> = stdout_typed(&output);
    let tags: Vec<String> =
        listed.iter().map(|b| format!("{}:{}", b.name, b.tag.as_deref().unwrap())).collect();
    assert_eq!(tags, ["k8s-app:2.0.1", "web:1.0.0", "web:1.1.0", "web:1.2.0"]);
    for tag in &tags {
        let output = baton(tmp.path())
            .args(["bundle", "verify", &format!("oci:store/{tag}")])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{tag}: {}", stdout(&output));
    }
}

#[test]
fn a_moved_tag_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let web = example(tmp.path(), "web");
    let first = build_json(tmp.path(), &web, &tmp.path().join("store"), &[]);
    fs_err::write(web.join("html/index.html"), "changed without a version bump").unwrap();
    let output = baton(tmp.path())
        .args(["bundle", "build", "web", "--store", "oci:store"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("tag web:1.4.2 moved from {}", &*first.digest.to_string())),
        "{err}"
    );
    assert!(err.contains("bump the version"), "{err}");
}

#[test]
fn a_store_inside_the_descriptor_is_not_packed() {
    let tmp = tempfile::tempdir().unwrap();
    let web = example(tmp.path(), "web");
    let run = || {
        let output = baton(&web)
            .args(["bundle", "build", ".", "--store", "oci:.baton/store", "--output", "json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        stdout_typed::<BuildReport>(&output)
    };
    let first = run();
    let second = run();
    assert_eq!(
        first.digest, second.digest,
        "the store's own blobs must not end up in the next bundle"
    );
    assert_eq!(second.files, 9);
}

/// Store files are as readable as any file the user writes (0666 less the umask): a store built
/// by one user can be read by the applier running as another. Temporary files start at 0600, so
/// this holds only because baton asks for more.
#[test]
fn store_files_follow_the_umask_like_any_written_file() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let descriptor = example(tmp.path(), "web");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" bundle build \"$1\" --store \"oci:$2\" 2>/dev/null")
        .arg(baton_tests::baton_bin())
        .arg(&descriptor)
        .arg(tmp.path().join("store"))
        .env("HOME", tmp.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .status()
        .unwrap();
    assert!(status.success());
    let layout = tmp.path().join("store/web");
    let mut files = walk(&layout);
    files.retain(|p| p.file_name().is_some_and(|n| n != "index.json.lock"));
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let mode = fs_err::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", file.display());
    }
}

/// A build killed mid-blob leaves a temporary file in the store; the next write to that store
/// removes it (the writer is gone), and leaves alone one that a live process is writing.
#[test]
fn temporary_files_of_a_killed_build_are_removed_by_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let web = example(tmp.path(), "web");
    build_json(tmp.path(), &web, &store, &[]);
    let blobs = store.join("web/blobs/sha256");
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .replace(['/', '-'], "_");
    // A writer that is gone: a process that ran and was waited for.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let stale = blobs.join(format!(".tmp-{host}-{gone_pid}-AbCdEf"));
    fs_err::write(&stale, vec![0u8; 4096]).unwrap();
    // A writer that is alive: this test.
    let live = blobs.join(format!(".tmp-{host}-{}-GhIjKl", std::process::id()));
    fs_err::write(&live, b"in progress").unwrap();
    // And a real kill -9 in the middle of a build of something large.
    let big = tmp.path().join("big");
    fs_err::create_dir_all(&big).unwrap();
    fs_err::write(big.join("bundle.toml"), "[bundle]\nname = \"web\"\nversion = \"9.0.0\"\n")
        .unwrap();
    let mut seed = 0x9e37_79b9_u64;
    let mut noise = vec![0u8; 64 << 20];
    for byte in &mut noise {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *byte = seed.to_le_bytes()[2];
    }
    fs_err::write(big.join("noise.bin"), &noise).unwrap();
    drop(noise);
    let mut killed = std::process::Command::new(baton_tests::baton_bin())
        .args(["bundle", "build"])
        .arg(&big)
        .arg("--store")
        .arg(format!("oci:{}", store.display()))
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = killed.kill();
    killed.wait().unwrap();
    // The next write to the store.
    let mut rebuilt = web.clone();
    rebuilt.set_file_name("web-again");
    baton_tests::copy_tree(&web, &rebuilt);
    fs_err::write(rebuilt.join("html/again.txt"), "again\n").unwrap();
    let text = fs_err::read_to_string(rebuilt.join("bundle.toml"))
        .unwrap()
        .replace("version = \"1.4.2\"", "version = \"1.4.3\"");
    fs_err::write(rebuilt.join("bundle.toml"), text).unwrap();
    build_json(tmp.path(), &rebuilt, &store, &[]);
    assert!(!stale.exists(), "the gone writer's temporary file is removed");
    assert!(live.exists(), "a live writer's temporary file is left alone");
    let left: Vec<String> = fs_err::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") && !n.contains(&format!("-{}-", std::process::id())))
        .collect();
    assert!(left.is_empty(), "the killed build's temporary files are removed: {left:?}");
}

/// A store path where nothing was ever stored is an error naming it (a typo, most likely), not
/// an empty listing; an empty store that exists lists nothing.
#[test]
fn listing_a_store_that_does_not_exist_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let output = baton(tmp.path())
        .args(["bundle", "list", "--store", "oci:no-such-store", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", baton_tests::stderr(&output));
    let document: baton::document::ErrorDocument = stdout_typed(&output);
    assert!(document.error.causes.iter().any(|c| c.contains("`oci:no-such-store` does not exist")));
    assert!(document.error.hint.is_some_and(|h| h.contains("baton bundle build")));
    fs_err::create_dir_all(tmp.path().join("empty")).unwrap();
    let output = baton(tmp.path())
        .args(["bundle", "list", "--store", "oci:empty", "--output", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", baton_tests::stderr(&output));
    assert_eq!(stdout(&output).trim(), "[]");
}
