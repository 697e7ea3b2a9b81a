//! Registry stores against a real registry process on loopback (Debian's docker-registry,
//! started by `make test`): push, copy in every direction with the digest unchanged, mounts,
//! skopeo interop, authentication and clear errors.

use std::path::Path;

use baton_build::{BuildReport, CopyOutcome, InspectReport, ListedBundle, VerifyReport};
use baton_tests::{
    auth_registry, baton, build_json, example, registry, stderr, stdout, stdout_typed, unique_path,
};

fn copy(cwd: &Path, reference: &str, to: &str) -> CopyOutcome {
    let output =
        baton(cwd).args(["bundle", "copy", reference, to, "--output", "json"]).output().unwrap();
    assert!(output.status.success(), "copy {reference} -> {to}: {}", stderr(&output));
    stdout_typed(&output)
}

#[test]
fn round_trip_keeps_the_digest_and_a_second_copy_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let host = registry();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let digest = &*built.digest.to_string();
    let first = format!("{host}/{}", unique_path("first"));
    let second = format!("{host}/{}", unique_path("second"));

    let pushed = copy(tmp.path(), "oci:store/web:1.4.2", &first);
    assert_eq!(pushed.digest.to_string(), digest);
    assert_eq!((Some(pushed.blobs_uploaded), Some(pushed.blobs_skipped)), (Some(2), Some(0)));
    assert_eq!(pushed.bytes_uploaded, built.layer.size + built.config.size);

    let across = copy(tmp.path(), &format!("{first}/web@{digest}"), &second);
    assert_eq!(across.digest.to_string(), digest);
    assert_eq!(across.blobs_mounted, 2, "within one registry blobs are mounted: {across:?}");
    assert_eq!(across.bytes_uploaded, 0);

    let back = copy(tmp.path(), &format!("{second}/web:1.4.2"), "oci:back");
    assert_eq!(back.digest.to_string(), digest);
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("oci:back/web@{digest}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    let again = copy(tmp.path(), "oci:store/web:1.4.2", &first);
    assert_eq!(
        (Some(again.blobs_uploaded), Some(again.blobs_skipped)),
        (Some(0), Some(2)),
        "{again:?}"
    );
    assert_eq!(again.bytes_uploaded, 0);
}

#[test]
fn build_pushes_and_list_inspect_verify_read_the_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("{}/{}", registry(), unique_path("team"));
    example(tmp.path(), "web");
    example(tmp.path(), "k8s-app");
    let mut digests = Vec::new();
    for dir in ["web", "k8s-app"] {
        let output = baton(tmp.path())
            .args(["bundle", "build", dir, "--store", &store, "--output", "json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let json: BuildReport = stdout_typed(&output);
        assert_eq!(json.pushed.as_ref().unwrap().blobs_uploaded, 2, "{json:?}");
        digests.push(json.digest);
    }
    // A rebuild of the same files finds the digest under its version and pushes nothing.
    let output = baton(tmp.path())
        .args(["bundle", "build", "web", "--store", &store, "--output", "json"])
        .output()
        .unwrap();
    let again: BuildReport = stdout_typed(&output);
    assert_eq!(again.digest, digests[0]);
    assert!(again.unchanged && again.pushed.is_none() && again.moved_from.is_none(), "{again:?}");
    let output = baton(tmp.path())
        .args(["bundle", "list", "--store", &store, "--output", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let listed: Vec<String> = stdout_typed::<Vec<ListedBundle>>(&output)
        .iter()
        .map(|b| format!("{}@{}", b.name, b.digest))
        .collect();
    assert_eq!(listed, [format!("k8s-app@{}", digests[1]), format!("web@{}", digests[0])]);

    let output = baton(tmp.path())
        .args(["bundle", "inspect", &format!("{store}/web:1.4.2"), "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(stdout_typed::<InspectReport>(&output).digest, digests[0]);
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/k8s-app@{}", digests[1])])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let output = baton(tmp.path())
        .args(["bundle", "unpack", &format!("{store}/web:1.4.2"), "--into", "out"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(tmp.path().join("out/conf/nginx.conf").is_file());
}

#[test]
fn skopeo_reads_what_baton_pushed_and_baton_reads_what_skopeo_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let host = registry();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let digest = &*built.digest.to_string();
    let path = unique_path("interop");
    copy(tmp.path(), "oci:store/web:1.4.2", &format!("{host}/{path}"));
    let skopeo = |args: &[&str]| {
        let output = std::process::Command::new("skopeo")
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "skopeo {args:?}: {}", stderr(&output));
        output.stdout
    };
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/{path}/web:1.4.2"),
    ]);
    assert_eq!(baton_model::Digest::of(&raw).to_string(), digest);

    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}/store/web:1.4.2", tmp.path().display()),
        &format!("docker://{host}/{path}/by-skopeo/web:1.4.2"),
    ]);
    let output = baton(tmp.path())
        .args([
            "bundle",
            "verify",
            &format!("{host}/{path}/by-skopeo/web:1.4.2"),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(stdout_typed::<VerifyReport>(&output).digest.to_string(), digest);
}

#[test]
fn credentials_from_docker_config_and_a_clear_401() {
    let tmp = tempfile::tempdir().unwrap();
    let (host, user, password) = auth_registry();
    build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let store = format!("{host}/{}", unique_path("private"));
    let write_config = |dir: &str, password: &str| {
        let dir = tmp.path().join(dir);
        fs_err::create_dir_all(&dir).unwrap();
        let auth = base64_encode(&format!("{user}:{password}"));
        fs_err::write(
            dir.join("config.json"),
            format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        dir
    };
    let good = write_config("good", &password);
    let output = baton(tmp.path())
        .args(["bundle", "copy", "oci:store/web:1.4.2", &store])
        .env("DOCKER_CONFIG", &good)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let bad = write_config("bad", "wrong-password");
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2")])
        .env("DOCKER_CONFIG", &bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&host) && err.contains("auths") && err.contains("bad/config.json"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-password")
            && !err.contains(&base64_encode(&format!("{user}:wrong-password"))),
        "a credential leaked: {err}"
    );

    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "anonymous access is refused");
    assert!(stderr(&output).contains("anonymous"), "{}", stderr(&output));
}

fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn unknown_repositories_tags_and_foreign_manifests_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let host = registry();
    let path = unique_path("errors");
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{host}/{path}/nope:1.0.0")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains(&format!("tag `1.0.0` of bundle `nope` is not in store `{host}/{path}`")),
        "{}",
        stderr(&output)
    );

    build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    copy(tmp.path(), "oci:store/web:1.4.2", &format!("{host}/{path}"));
    let output = baton(tmp.path())
        .args(["bundle", "inspect", &format!("{host}/{path}/web:9.9.9")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("tag `9.9.9` of bundle `web`"), "{}", stderr(&output));

    // A plain container image (an OCI image manifest with an image config), pushed by skopeo.
    let image = tmp.path().join("image");
    write_plain_image(&image);
    let status = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:1.0.0", image.display()),
            &format!("docker://{host}/{path}/plain:1.0.0"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let output = baton(tmp.path())
        .args(["bundle", "inspect", &format!("{host}/{path}/plain:1.0.0")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(stdout(&output).contains("is not a baton bundle"), "{}", stdout(&output));
}

/// Writes an OCI layout holding a minimal container image tagged `1.0.0`.
fn write_plain_image(dir: &Path) {
    use baton_model::Digest;
    let blobs = dir.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).unwrap();
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        Digest::of(config),
        config.len()
    );
    fs_err::write(blobs.join(Digest::of(config).hex()), config).unwrap();
    fs_err::write(blobs.join(Digest::of(manifest.as_bytes()).hex()), &manifest).unwrap();
    fs_err::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs_err::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"1.0.0"}}}}]}}"#,
            Digest::of(manifest.as_bytes()),
            manifest.len()
        ),
    )
    .unwrap();
}

#[test]
fn a_blob_changed_in_the_registry_storage_is_refused_by_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let host = registry();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let layer = &*built.layer.digest.to_string();
    // A blob that no other test shares: the layer of a bundle with unique content.
    let unique = tmp.path().join("unique");
    baton_tests::copy_tree(&tmp.path().join("web"), &unique);
    fs_err::write(unique.join("html/index.html"), unique_path("content")).unwrap();
    let unique_built = build_json(tmp.path(), &unique, &tmp.path().join("store2"), &[]);
    let unique_layer = &*unique_built.layer.digest.to_string();
    let path = unique_path("tampered");
    let store2 = tmp.path().join("store2");
    let output = baton(tmp.path())
        .args([
            "bundle",
            "copy",
            &format!("oci:{}/web:1.4.2", store2.display()),
            &format!("{host}/{path}"),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_ne!(layer, unique_layer);

    let hex = unique_layer.strip_prefix("sha256:").unwrap();
    let data = baton_tests::registry_storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = fs_err::read(&data).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0xff;
    fs_err::write(&data, &bytes).unwrap();

    let reference = format!("{host}/{path}/web@{}", &*unique_built.digest.to_string());
    let output = baton(tmp.path()).args(["bundle", "verify", &reference]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}\n{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains(&format!("layer {unique_layer}")), "{}", stdout(&output));

    let output =
        baton(tmp.path()).args(["bundle", "copy", &reference, "oci:pulled"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(unique_layer),
        "the error names the blob: {}",
        stderr(&output)
    );
    let pulled = tmp.path().join("pulled/web");
    assert!(!pulled.join("index.json").exists(), "nothing is tagged at the destination");
    if pulled.exists() {
        let kept: Vec<_> = fs_err::read_dir(pulled.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            !kept.iter().any(|n| n.to_string_lossy() == hex),
            "the corrupt blob must not land: {kept:?}"
        );
    }
}

#[test]
fn a_corrupt_blob_in_the_source_layout_is_named_and_no_tag_is_pushed() {
    let tmp = tempfile::tempdir().unwrap();
    let host = registry();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let layer = &*built.layer.digest.to_string();
    let blob = baton_tests::blob_path(&tmp.path().join("store"), "web", layer);
    let mut bytes = fs_err::read(&blob).unwrap();
    bytes[10] ^= 0x01;
    fs_err::write(&blob, &bytes).unwrap();
    let store = format!("{host}/{}", unique_path("corrupt-source"));
    let output =
        baton(tmp.path()).args(["bundle", "copy", "oci:store/web:1.4.2", &store]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("blob {layer}")) && err.contains("is corrupt"), "{err}");
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2")])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("tag `1.4.2` of bundle `web` is not in store"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn every_pair_of_store_kinds_keeps_the_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let open = registry();
    let (private, user, password) = auth_registry();
    let config = tmp.path().join("docker");
    fs_err::create_dir_all(&config).unwrap();
    let auth = base64_encode(&format!("{user}:{password}"));
    fs_err::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{private}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let built = build_json(tmp.path(), &example(tmp.path(), "k8s-app"), &tmp.path().join("a"), &[]);
    let digest = &*built.digest.to_string();

    let open_store = format!("{open}/{}", unique_path("pairs"));
    let private_store = format!("{private}/{}", unique_path("pairs"));
    // oci → oci (hard links on one file system), oci → registry, registry → same registry,
    // registry → another registry, registry → oci.
    let hops = [
        ("oci:a".to_owned(), "oci:b".to_owned()),
        ("oci:b".to_owned(), open_store.clone()),
        (open_store.clone(), format!("{open_store}/again")),
        (format!("{open_store}/again"), private_store.clone()),
        (private_store.clone(), "oci:c".to_owned()),
    ];
    for (from, to) in &hops {
        let output = baton(tmp.path())
            .args(["bundle", "copy", &format!("{from}/k8s-app@{digest}"), to, "--output", "json"])
            .env("DOCKER_CONFIG", &config)
            .output()
            .unwrap();
        assert!(output.status.success(), "{from} -> {to}: {}", stderr(&output));
        let report: CopyOutcome = stdout_typed(&output);
        assert_eq!(report.digest.to_string(), digest, "{from} -> {to}");
        let output = baton(tmp.path())
            .args(["bundle", "verify", &format!("{to}/k8s-app:2.0.1")])
            .env("DOCKER_CONFIG", &config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{to}: {}", stdout(&output));
    }
    let linked = |store: &str| {
        use std::os::unix::fs::MetadataExt;
        let layer = &*built.layer.digest.to_string();
        fs_err::metadata(baton_tests::blob_path(&tmp.path().join(store), "k8s-app", layer))
            .unwrap()
            .ino()
    };
    assert_eq!(
        linked("a"),
        linked("b"),
        "a copy between layouts on one file system hard-links blobs"
    );
}

#[test]
fn chunked_uploads_give_the_same_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let host = registry();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let store = format!("{host}/{}", unique_path("chunked"));
    let output = baton(tmp.path())
        .args([
            "bundle",
            "copy",
            "oci:store/web:1.4.2",
            &store,
            "--chunked-uploads",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout_typed::<CopyOutcome>(&output).blobs_uploaded, 2);
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2"), "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(stdout_typed::<VerifyReport>(&output).digest, built.digest);
}

/// A registry as GHCR, GitLab or Harbor run one: HTTPS with a private CA and the Docker token
/// protocol. The CA comes from `--registry-ca` or a `certs.d` directory; without it the error
/// says what to give. skopeo, which nobody on this team wrote, reads what baton pushed.
#[test]
fn a_registry_with_a_private_ca_and_token_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = baton_tests::TokenRegistry::start();
    let built = build_json(tmp.path(), &example(tmp.path(), "web"), &tmp.path().join("store"), &[]);
    let config = tmp.path().join("docker");
    fs_err::create_dir_all(&config).unwrap();
    let auth = base64_encode(&format!("{}:{}", registry.user, registry.password));
    fs_err::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, registry.host),
    )
    .unwrap();
    let store = format!("{}/team", registry.host);
    let ca = registry.ca().display().to_string();
    let output = baton(tmp.path())
        .args(["bundle", "copy", "oci:store/web:1.4.2", &store, "--registry-ca", &ca])
        .env("DOCKER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // The CA in certs.d, as podman keeps it, does the same.
    let home = tmp.path().join("home");
    let certs = home.join(".config/containers/certs.d").join(&registry.host);
    fs_err::create_dir_all(&certs).unwrap();
    fs_err::copy(registry.ca(), certs.join("ca.crt")).unwrap();
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2"), "--output", "json"])
        .env("DOCKER_CONFIG", &config)
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: baton_build::VerifyReport = baton_tests::stdout_typed(&output);
    assert_eq!(report.digest, built.digest);
    // skopeo reads it with the same CA and a token for the same credentials.
    let skopeo = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(&certs)
        .args(["--creds", &format!("{}:{}", registry.user, registry.password)])
        .arg(format!("docker://{store}/web:1.4.2"))
        .output()
        .unwrap();
    assert!(skopeo.status.success(), "{}", String::from_utf8_lossy(&skopeo.stderr));
    assert_eq!(baton_model::Digest::of(&skopeo.stdout), built.digest);
    // No CA: the error names the registry and what to give.
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2")])
        .env("DOCKER_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&registry.host) && err.contains("--registry-ca"), "{err}");
    // A wrong password: the issuer refuses, and nothing prints it.
    fs_err::write(
        config.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            registry.host,
            base64_encode(&format!("{}:not-it", registry.user))
        ),
    )
    .unwrap();
    let output = baton(tmp.path())
        .args(["bundle", "verify", &format!("{store}/web:1.4.2"), "--registry-ca", &ca])
        .env("DOCKER_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(!stderr(&output).contains("not-it"), "{}", stderr(&output));
    assert!(stderr(&output).contains(&registry.host), "{}", stderr(&output));
}
