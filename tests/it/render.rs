//! `baton render`: the tree apply would write, from the same path (admission, the pin's params,
//! fetch, verify, unpack, render), into a directory or as YAML on stdout; secrets stay
//! placeholders unless asked for. The rendered examples/k8s-app validates against Kubernetes'
//! own schemas (`kubernetes-validate`) in every environment.

use base64::Engine as _;
use std::{os::unix::fs::PermissionsExt as _, path::Path, process::Command};

use baton_apply::RenderReport;
use baton_tests::{SECRET, World, python, stderr, stdout};

#[test]
fn render_with_secrets_writes_exactly_what_apply_writes() {
    let w = World::new();
    w.pin("dev", &w.web);
    w.ok(&["apply", "dev"]);
    let out = w.dir().join("out");
    let report: RenderReport =
        w.typed(&["render", "dev", "web", "--into", out.to_str().unwrap(), "--with-secrets"]);
    assert_eq!(report.digest.to_string(), w.web);
    assert!(report.secrets_resolved);
    assert!(report.files.iter().any(|f| f.path == "conf/nginx.conf" && f.rendered));
    let applied = w.state.join("deploy/dev/web/current");
    assert_eq!(
        baton_tests::tree_files(&out),
        baton_tests::tree_files(&applied),
        "render --with-secrets is apply's tree, byte for byte"
    );
    for entry in report.files.iter().filter(|f| f.secret) {
        let mode = fs_err::metadata(out.join(&entry.path)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} read a secret", entry.path);
    }
}

#[test]
fn render_without_secrets_holds_placeholders_and_never_the_secret() {
    let w = World::new();
    let digest = w.build("1.4.3", |dir| {
        let conf = dir.join("conf/nginx.conf");
        let text = fs_err::read_to_string(&conf).unwrap();
        fs_err::write(&conf, format!("# key: {{{{ params.tls_key | b64encode }}}}\n{text}"))
            .unwrap();
    });
    w.pin("dev", &digest);
    let out = w.dir().join("out");
    // No WEB_TLS_KEY is needed: the secret is not read at all.
    let output = baton_tests::baton(&w.state)
        .args(["render", "dev", "web", "--into", out.to_str().unwrap()])
        .env("BATON_CACHE", w.cache())
        .env_remove("WEB_TLS_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("tls_key rendered as placeholders"), "{}", stderr(&output));
    let conf = fs_err::read_to_string(out.join("conf/nginx.conf")).unwrap();
    let placeholder = base64::engine::general_purpose::STANDARD.encode("<secret:tls_key>");
    assert!(conf.starts_with(&format!("# key: {placeholder}\n")), "{conf}");
    for (path, bytes) in baton_tests::tree_files(&out) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SECRET), "{path} holds the secret");
    }
    let mode = fs_err::metadata(out.join("conf/nginx.conf")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "a placeholder is no secret");
}

#[test]
fn render_refuses_a_directory_that_holds_files_and_loses_nothing() {
    let w = World::new();
    w.pin("dev", &w.web);
    let out = w.dir().join("out");
    fs_err::create_dir_all(&out).unwrap();
    fs_err::write(out.join("mine.txt"), "keep me").unwrap();
    let text = w.fails(&["render", "dev", "web", "--into", out.to_str().unwrap()], 1);
    assert!(text.contains("not empty") && text.contains("out"), "{text}");
    assert_eq!(baton_tests::tree_files(&out), vec![("mine.txt".to_owned(), b"keep me".to_vec())]);
    // Nothing of the staging directory is left beside it.
    let names: Vec<String> = fs_err::read_dir(w.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
    // A pin nobody promoted renders nowhere, like it applies nowhere.
    let text = w.fails(&["render", "staging", "web", "--into", "x"], 1);
    assert!(text.contains("staging") && text.contains("web"), "{text}");
    // --stdout writes YAML there, so a JSON document cannot go there too: a usage error.
    let text = w.fails(&["render", "dev", "web", "--stdout", "--output", "json"], 2);
    assert!(text.contains("--into DIR"), "{text}");
}

/// examples/k8s-app promoted through dev, staging and prod in `w`.
fn k8s_chain(w: &World) {
    w.example_into_dev("k8s-app");
    w.ok(&["promote", "k8s-app", "--to", "staging", "--as", "ci"]);
    w.ok(&["approve", "k8s-app", "--env", "prod", "--as", "alice"]);
    w.ok(&["approve", "k8s-app", "--env", "prod", "--as", "bob"]);
    w.ok(&["promote", "k8s-app", "--to", "prod", "--as", "ci"]);
}

/// Validates `files` with `kubernetes-validate --strict` (the schemas Kubernetes publishes).
fn kubernetes_validate(files: &[&Path]) {
    let bin = python().parent().unwrap().join("kubernetes-validate");
    let output = Command::new(&bin)
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(output.status.success(), "kubernetes-validate: {}{}", stdout(&output), stderr(&output));
}

#[test]
fn rendered_k8s_app_validates_against_kubernetes_schemas_in_every_environment() {
    let w = World::new();
    k8s_chain(&w);
    for env in ["dev", "staging", "prod"] {
        let out = w.dir().join(format!("k8s-{env}"));
        w.ok(&["render", env, "k8s-app", "--into", out.to_str().unwrap()]);
        let manifests: Vec<std::path::PathBuf> = ["configmap", "deployment", "service"]
            .iter()
            .map(|n| out.join(format!("manifests/{n}.yaml")))
            .collect();
        kubernetes_validate(&manifests.iter().map(std::path::PathBuf::as_path).collect::<Vec<_>>());
        // The stream on stdout is the same documents, read back by a real parser.
        let output = w.baton(&["render", env, "k8s-app", "--stdout"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let stream = w.dir().join(format!("{env}.yaml"));
        fs_err::write(&stream, &output.stdout).unwrap();
        kubernetes_validate(&[&stream]);
        let script = "import json, sys, yaml\nprint(json.dumps([d['kind'] for d in yaml.safe_load_all(open(sys.argv[1])) if d]))";
        let read = Command::new(python()).args(["-c", script]).arg(&stream).output().unwrap();
        assert!(read.status.success(), "{}", stderr(&read));
        let kinds: Vec<String> = serde_json::from_slice(&read.stdout).unwrap();
        assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"], "{env}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.contains(&format!("baton.dev/environment: \"{env}\"")), "{text}");
        assert!(text.starts_with("# Source: manifests/configmap.yaml\n---\n"), "{text}");
    }
}
