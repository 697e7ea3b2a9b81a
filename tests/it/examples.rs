//! The hand-off examples, exercised as far as this machine allows: the CI pipelines validate
//! against the GitHub Actions and GitLab CI schemas vendored in `check-jsonschema`; the Flux and
//! Argo CD manifests name a published rendering that is there, by digest, and whose tree a real
//! `kubectl kustomize` builds into objects Kubernetes' schemas accept; the kubectl exec target
//! runs a real kubectl (its check needs no cluster; its apply meets none) and keeps what kubectl
//! said beside the applied record.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

use baton_tests::{World, baton, build_json, copy_tree, example, git, python, repo_root};
use baton_tests::{stderr, stdout};
use serde_json::Value;

use crate::publish::{published_staging, pull};

/// A program installed beside the test's Python (the virtual environment's scripts).
fn venv_bin(name: &str) -> std::path::PathBuf {
    python().parent().unwrap().join(name)
}

#[test]
fn ci_examples_validate_against_the_vendored_schemas() {
    for (file, schema) in [
        ("examples/ci/github-actions.yml", "vendor.github-workflows"),
        ("examples/ci/gitlab-ci.yml", "vendor.gitlab-ci"),
    ] {
        let output = Command::new(venv_bin("check-jsonschema"))
            .args(["--builtin-schema", schema])
            .arg(repo_root().join(file))
            .output()
            .unwrap();
        assert!(output.status.success(), "{file}: {}{}", stdout(&output), stderr(&output));
    }
    // What the pipelines read from baton's documents is in the documents' schemas.
    let promote = fs_err::read_to_string(repo_root().join("schemas/output/promote.schema.json"));
    let error = fs_err::read_to_string(repo_root().join("schemas/output/error.schema.json"));
    let (promote, error) = (promote.unwrap(), error.unwrap());
    for field in ["\"no_op\"", "\"version\"", "\"digest\"", "\"environment\""] {
        assert!(promote.contains(field), "promote.schema.json lacks {field}");
    }
    for field in ["\"gates\"", "\"held\"", "\"detail\"", "\"fix\"", "\"hint\"", "\"message\""] {
        assert!(error.contains(field), "error.schema.json lacks {field}");
    }
}

/// The example manifests of `file`, with the example registry path replaced by `repo` on
/// `host` and the example digest by `digest`, read by `PyYAML`.
fn example_manifests(file: &str, host: &str, repo: &str, digest: &str) -> Vec<Value> {
    let text = fs_err::read_to_string(repo_root().join(file))
        .unwrap()
        .replace("registry.example.com/shop/prod/k8s-app", &format!("{host}/{repo}"))
        .replace("sha256:43059cf7fc78c30c01aa9089069ac6b9d78a3bced3ec9ef6116491ba7b6aa7a4", digest);
    let script = "import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(sys.stdin))))";
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{file}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Pulls what `url` (`oci://HOST/REPO`) names at `reference`, builds `path` of it with a real
/// `kubectl kustomize`, and validates the objects with `kubernetes-validate`.
fn pulled_tree_builds(dir: &Path, url: &str, reference: &str, path: &str, name: &str) {
    let (host, repo) = url.strip_prefix("oci://").unwrap().split_once('/').unwrap();
    let out = dir.join(name);
    pull(dir, host, repo, reference, &out);
    let built = Command::new("kubectl").arg("kustomize").arg(out.join(path)).output().unwrap();
    assert!(built.status.success(), "kubectl kustomize: {}", stderr(&built));
    let objects = dir.join(format!("{name}.yaml"));
    fs_err::write(&objects, &built.stdout).unwrap();
    let text = stdout(&built);
    assert!(text.contains("kind: Deployment") && text.contains("kind: Service"), "{text}");
    let validated = Command::new(venv_bin("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .arg(&objects)
        .output()
        .unwrap();
    assert!(validated.status.success(), "{}{}", stdout(&validated), stderr(&validated));
}

#[test]
fn flux_and_argocd_manifests_name_a_published_rendering_that_builds() {
    let w = World::new();
    let (host, repo, _, promotion) = published_staging(&w);
    let digest = promotion.published.unwrap().to_string();

    let flux = example_manifests("examples/flux/k8s-app.yaml", &host, &repo, &digest);
    let [source, kustomization] = flux.as_slice() else { panic!("{flux:?}") };
    assert_eq!(source["kind"], "OCIRepository");
    assert_eq!(source["apiVersion"], "source.toolkit.fluxcd.io/v1");
    assert!(source["spec"].get("layerSelector").is_none(), "Flux takes the first layer");
    assert_eq!(kustomization["kind"], "Kustomization");
    assert_eq!(kustomization["spec"]["sourceRef"]["name"], source["metadata"]["name"]);
    let url = source["spec"]["url"].as_str().unwrap();
    let reference = source["spec"]["ref"]["digest"].as_str().unwrap();
    let path = kustomization["spec"]["path"].as_str().unwrap();
    pulled_tree_builds(w.dir(), url, reference, path, "flux");

    let argo = example_manifests("examples/argocd/k8s-app.yaml", &host, &repo, &digest);
    let [application] = argo.as_slice() else { panic!("{argo:?}") };
    assert_eq!(application["kind"], "Application");
    let source = &application["spec"]["source"];
    let url = source["repoURL"].as_str().unwrap();
    let reference = source["targetRevision"].as_str().unwrap();
    pulled_tree_builds(w.dir(), url, reference, source["path"].as_str().unwrap(), "argocd");
}

/// examples/state with examples/exec/NAME.toml as its pipeline, committed, and a secrets
/// directory holding prod's and staging's database passwords; the applier finds no cluster.
struct ExecExample {
    dir: tempfile::TempDir,
    state: std::path::PathBuf,
}

impl ExecExample {
    fn new(name: &str, prod_password: &str) -> ExecExample {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        copy_tree(&repo_root().join("examples/state"), &state);
        let pipeline = repo_root().join(format!("examples/exec/{name}.toml"));
        fs_err::copy(pipeline, state.join("baton.toml")).unwrap();
        git(&state, &["init", "-q", "-b", "main"]);
        git(&state, &["add", "-A"]);
        git(&state, &["commit", "-q", "-m", &format!("applied with {name}")]);
        let secrets = dir.path().join("secrets");
        fs_err::create_dir_all(&secrets).unwrap();
        fs_err::write(secrets.join("prod-db-password"), prod_password).unwrap();
        fs_err::write(secrets.join("staging-db-password"), "staging-password-1").unwrap();
        fs_err::write(dir.path().join("kubeconfig"), NO_CLUSTER).unwrap();
        ExecExample { dir, state }
    }

    /// `baton ARGS` in the state, with its own cache and applied dir, the secrets, no cluster.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let dir = self.dir.path();
        baton(&self.state)
            .args(args)
            .env("BATON_CACHE", dir.join("cache"))
            .env("BATON_APPLIED_DIR", dir.join("applied"))
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env("BATON_SECRETS_DIR", dir.join("secrets"))
            .output()
            .unwrap()
    }

    /// examples/EXAMPLE built, promoted as `bundle` to staging and then to prod.
    fn promote_to_prod(&self, example_dir: &str, bundle: &str) {
        let dir = self.dir.path();
        let built = build_json(dir, &example(dir, example_dir), &dir.join("b"), &[]);
        let (digest, from) = (built.digest.to_string(), format!("oci:{}", dir.join("b").display()));
        let first = ["promote", bundle, "--to", "staging", "--digest", &digest, "--from-store"];
        let output = self.run(&[&first[..], &[from.as_str(), "--as", "ci"]].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        let output = self.run(&["promote", bundle, "--to", "prod", "--as", "ci"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
}

/// A kubeconfig for a cluster that is not there (nothing listens on port 9).
const NO_CLUSTER: &str = "apiVersion: v1
kind: Config
clusters:
- name: none
  cluster:
    server: https://127.0.0.1:9
contexts:
- name: none
  context:
    cluster: none
    user: none
users:
- name: none
  user:
    token: not-a-token
current-context: none
";

#[test]
fn the_kubectl_exec_example_runs_kubectl_and_keeps_what_it_said() {
    // prod's params read the database password below the secrets directory.
    let ex = ExecExample::new("kubectl", "correct-horse-battery\n");
    ex.promote_to_prod("k8s-app", "k8s-app");

    let output = ex.run(&["apply", "prod", "-v"]);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    let said = stderr(&output);
    // The check ran a real kubectl that needed no cluster, and its output was logged at -v.
    assert!(said.contains("check stdout: kind: Deployment"), "{said}");
    // The apply met no cluster: kubectl's own words name the failure.
    assert!(said.contains("kubectl apply --server-side"), "{said}");
    assert!(said.contains("127.0.0.1:9") && said.contains("connection refused"), "{said}");
    // What kubectl said is kept beside the applied record.
    let releases = ex.dir.path().join("applied/prod/k8s-app/.releases");
    let logs: Vec<_> = fs_err::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    let [log] = logs.as_slice() else { panic!("{logs:?}") };
    let text = fs_err::read_to_string(log).unwrap();
    assert!(text.contains("== check: kubectl kustomize .: succeeded"), "{text}");
    assert!(text.contains("name: orders"), "{text}");
    assert!(text.contains("== command: kubectl apply --server-side") && text.contains("failed"));
    assert!(text.contains("connection refused"), "{text}");
}

/// A secret that breaks naive quoting: quotes of both kinds, a backslash, a newline, and what
/// Helm, YAML and HCL would each read as the start of something.
const AWKWARD_SECRET: &str = "pa\"ss'w\\rd: #x\n${var.x} {{ .Values }} - [a]";

/// The helm and terraform exec examples, each with its bundle: the pipeline as baton reads it,
/// the bundle built and promoted through staging to prod, and prod's rendering read by a real
/// parser of what the tool reads (the values by `PyYAML`, the variables as JSON, which Terraform
/// loads as it is), even with a secret that breaks naive quoting, in a 0600 file. `helm` and
/// `terraform` are not on this machine's package registries, so the apply is taken as far as
/// it goes here: baton runs the example's check in the rendered directory, and its failure
/// names the command and records no release as applied.
#[test]
fn the_helm_and_terraform_examples_render_what_their_tools_read() {
    for (name, bundle, example_dir, rendered, check) in [
        ("helm", "orders-chart", "helm-app", "values.yaml", "helm lint"),
        ("terraform", "orders-infra", "terraform-app", "baton.auto.tfvars.json", "terraform init"),
    ] {
        let ex = ExecExample::new(name, AWKWARD_SECRET);
        ex.promote_to_prod(example_dir, bundle);
        let file = format!("examples/exec/{name}.toml");

        let out = ex.dir.path().join("out");
        let output =
            ex.run(&["render", "prod", bundle, "--into", out.to_str().unwrap(), "--with-secrets"]);
        assert!(output.status.success(), "{file}: {}", stderr(&output));
        let path = out.join(rendered);
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{rendered} reads a secret");
        let read = if name == "terraform" {
            "import json, sys\nprint(json.dumps(json.load(open(sys.argv[1]))))"
        } else {
            "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
        };
        let parsed = Command::new(python()).args(["-c", read]).arg(&path).output().unwrap();
        assert!(parsed.status.success(), "{rendered}: {}", stderr(&parsed));
        let values: Value = serde_json::from_slice(&parsed.stdout).unwrap();
        let password = if name == "helm" { &values["dbPassword"] } else { &values["db_password"] };
        assert_eq!(password, AWKWARD_SECRET, "{rendered}: {values}");
        assert_eq!(values["replicas"], 6, "prod's params: {values}");
        assert_eq!(values["environment"], "prod");

        let output = ex.run(&["apply", "prod", bundle]);
        let said = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{file}: {said}");
        assert!(said.contains(check), "the check that ran names its command: {said}");
        assert!(!said.contains(AWKWARD_SECRET), "{said}");
        // Without the tool, the error says which and what to do; with it (a machine that has
        // it), the check or the apply meets no cluster or backend and fails all the same.
        let tool = check.split(' ').next().unwrap();
        if said.contains("cannot be started") {
            assert!(said.contains(&format!("`{tool}` is not on PATH; install it")), "{said}");
        }
        let home = ex.dir.path().join(format!("applied/prod/{bundle}"));
        assert!(!home.join("applied.json").exists(), "a release whose check failed is recorded");
    }
    // Helm's own files are Helm's: baton carried the chart's templates unrendered.
    let chart = repo_root().join("examples/helm-app/chart/templates/secret.yaml");
    assert!(fs_err::read_to_string(chart).unwrap().contains("{{ .Values.dbPassword | b64enc"));
}
