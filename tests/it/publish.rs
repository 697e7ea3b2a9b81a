//! `publish`: an environment's rendering as the artifact Flux and Argo CD consume, in the
//! environment's store. Pulled back with `oras` by digest and by the environment's tag: one
//! layer of the standard media type whose untarred tree is `baton render`'s output byte for byte;
//! the same pin publishes to the same digest; a rendering that reads a secret is never published;
//! and `render --check` names what Flux or Argo CD would not take.

use std::{path::Path, process::Command};

use baton_build::Published;
use baton_promote::Promotion;
use baton_tests::{World, build_json, python, registry, stderr, stdout, unique_path};
use serde_json::Value;

/// `pull HOST REPO REF OUT`: the manifest (by digest or tag) with the digest the registry gives
/// for it, and the one layer pulled with oras and untarred into OUT; prints one JSON document.
const PULL: &str = r#"
import hashlib, json, os, sys, tarfile, urllib.request
import oras.client
host, repo, ref, out = sys.argv[1:5]
client = oras.client.OrasClient(hostname=host, insecure=True)
sep = "@" if ref.startswith("sha256:") else ":"
manifest = client.get_manifest(f"{host}/{repo}{sep}{ref}")
request = urllib.request.Request(
    f"http://{host}/v2/{repo}/manifests/{ref}",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
)
raw = urllib.request.urlopen(request).read()
layer = manifest["layers"][0]
blob = os.path.join(out + ".blob")
client.download_blob(f"{host}/{repo}", layer["digest"], blob)
kinds = []
with tarfile.open(blob, "r:gz") as tar:
    for member in tar.getmembers():
        kinds.append("dir" if member.isdir() else "file" if member.isreg() else "other")
    tar.extractall(out, filter="data")
print(json.dumps({
    "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
    "manifest": manifest,
    "kinds": sorted(set(kinds)),
}))
"#;

/// Pulls `repo` at `reference` from `host` with oras into `out`.
pub(crate) fn pull(dir: &Path, host: &str, repo: &str, reference: &str, out: &Path) -> Value {
    let script = dir.join("pull.py");
    fs_err::write(&script, PULL).unwrap();
    let output = Command::new(python())
        .arg(&script)
        .args([host, repo, reference, out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "pull.py: {}{}", stdout(&output), stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// World with staging in the registry, publishing; examples/k8s-app promoted to dev and
/// staging. Returns the registry host, staging's repository path, the bundle digest and the
/// staging promotion.
pub(crate) fn published_staging(w: &World) -> (String, String, String, Promotion) {
    let host = registry();
    let path = unique_path("publish");
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline).unwrap().replace(
        "store = \"oci:stores/staging\"",
        &format!("store = \"{host}/{path}/staging\"\npublish = true"),
    );
    fs_err::write(&pipeline, text).unwrap();
    w.commit("staging in the registry, published for Flux and Argo CD");
    let (digest, _) = w.example_into_dev("k8s-app");
    let promotion: Promotion = w.typed(&["promote", "k8s-app", "--to", "staging", "--as", "ci"]);
    (host, format!("{path}/staging/k8s-app"), digest, promotion)
}

/// Sets `publish = true` on dev and commits it.
fn dev_publishes(w: &World) {
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline)
        .unwrap()
        .replace("store = \"oci:stores/dev\"", "store = \"oci:stores/dev\"\npublish = true");
    fs_err::write(&pipeline, text).unwrap();
    w.commit("dev publishes");
}

/// web 1.7.0, whose `conf/tls.conf` renders the secret `tls_key`, built into `oci:build`.
fn web_reading_a_secret(w: &World) -> String {
    w.build("1.7.0", |dir| {
        fs_err::write(dir.join("conf/tls.conf"), "ssl_key {{ params.tls_key | b64encode }};\n")
            .unwrap();
    })
}

#[test]
fn a_published_rendering_is_the_rendered_tree_by_digest_and_by_tag_and_deterministic() {
    let w = World::new();
    let (host, repo, digest, promotion) = published_staging(&w);
    let published = promotion.published.clone().expect("staging publishes");
    let pin = fs_err::read_to_string(w.state.join("state/staging/k8s-app.toml")).unwrap();
    assert!(pin.contains(&format!("published = \"{published}\"")), "{pin}");

    let rendered = w.dir().join("rendered");
    w.ok(&["render", "staging", "k8s-app", "--into", rendered.to_str().unwrap()]);
    let by_digest = w.dir().join("by-digest");
    let pulled = pull(w.dir(), &host, &repo, &published.to_string(), &by_digest);
    assert_eq!(pulled["digest"], published.to_string());
    assert_eq!(
        baton_tests::tree_files(&by_digest),
        baton_tests::tree_files(&rendered),
        "the layer is baton render's tree"
    );
    assert_eq!(pulled["kinds"], serde_json::json!(["dir", "file"]), "regular files and dirs only");
    let manifest = &pulled["manifest"];
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");
    assert_eq!(annotations["org.opencontainers.image.revision"], format!("2.0.1@{digest}"));
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        format!("oci://{host}/{}", repo.as_str())
    );

    // The environment's tag names it, as a Flux `ref.tag: staging` reads it.
    let by_tag = w.dir().join("by-tag");
    let tagged = pull(w.dir(), &host, &repo, "staging", &by_tag);
    assert_eq!(tagged["digest"], published.to_string());

    // Publishing the same pin again gives the same bytes, so the same digest, every time.
    for _ in 0..2 {
        let again: Published = w.typed(&["publish", "staging", "k8s-app"]);
        assert_eq!(again.digest, published);
        assert_eq!(again.tag.as_deref(), Some("staging"));
    }
    // The bundle listing shows the bundle, not its rendering.
    let store = format!("{host}/{}", repo.trim_end_matches("/k8s-app"));
    let listed = w.ok(&["bundle", "list", "--store", &store]);
    let digests: Vec<&str> =
        listed.as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap()).collect();
    assert_eq!(digests, [digest.as_str()], "{listed}");

    // A new version published, then rolled back: the rendering goes back with the pin, to the
    // very digest it had (same bundle, same params, same bytes), and the tag follows.
    let src = w.dir().join("k8s-app-2.0.2");
    baton_tests::copy_tree(&baton_tests::repo_root().join("examples/k8s-app"), &src);
    let manifest = src.join("bundle.toml");
    let text = fs_err::read_to_string(&manifest).unwrap().replace("2.0.1", "2.0.2");
    fs_err::write(&manifest, text).unwrap();
    let newer = build_json(w.dir(), &src, &w.dir().join("build"), &[]).digest.to_string();
    let from = w.build_store();
    w.ok(&[
        "promote",
        "k8s-app",
        "--to",
        "dev",
        "--digest",
        &newer,
        "--from-store",
        &from,
        "--as",
        "ci",
    ]);
    let next: Promotion = w.typed(&["promote", "k8s-app", "--to", "staging", "--as", "ci"]);
    let next_published = next.published.expect("published");
    assert_ne!(next_published, published);
    assert_eq!(
        pull(w.dir(), &host, &repo, "staging", &w.dir().join("next"))["digest"],
        next_published.to_string()
    );
    let back: Promotion = w
        .typed(&["rollback", "k8s-app", "--env", "staging", "--as", "oncall", "--reason", "INC-9"]);
    assert_eq!(back.published.as_ref(), Some(&published), "the same rendering, the same digest");
    let tagged = pull(w.dir(), &host, &repo, "staging", &w.dir().join("back"));
    assert_eq!(tagged["digest"], published.to_string(), "the tag went back with the pin");
    let pin = fs_err::read_to_string(w.state.join("state/staging/k8s-app.toml")).unwrap();
    assert!(pin.contains(&format!("published = \"{published}\"")), "{pin}");
    let audit = w.baton(&["audit"]);
    assert_eq!(audit.status.code(), Some(0), "{}{}", stdout(&audit), stderr(&audit));

    // Prod takes the bundle from staging, never staging's rendering.
    w.ok(&["approve", "k8s-app", "--env", "prod", "--as", "alice"]);
    w.ok(&["approve", "k8s-app", "--env", "prod", "--as", "bob"]);
    let prod: Promotion = w.typed(&["promote", "k8s-app", "--to", "prod", "--as", "ci"]);
    assert_eq!(prod.published, None, "prod does not publish");
    let blob = w.state.join("stores/prod/k8s-app/blobs/sha256").join(published.hex());
    assert!(!blob.exists(), "staging's rendering was carried into prod's store");
}

#[test]
fn a_rendering_that_reads_a_secret_is_never_published() {
    let w = World::new();
    dev_publishes(&w);
    let digest = web_reading_a_secret(&w);
    let from = w.build_store();
    let text = w.fails(
        &[
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &digest,
            "--from-store",
            &from,
            "--as",
            "ci",
        ],
        1,
    );
    assert!(text.contains("conf/tls.conf") && text.contains("secret"), "{text}");
    assert!(!w.state.join("state/dev/web.toml").exists(), "nothing was pinned");
    let index =
        fs_err::read_to_string(w.state.join("stores/dev/web/index.json")).unwrap_or_default();
    assert!(!index.contains("\"dev\""), "nothing was tagged: {index}");
    assert!(!text.contains(baton_tests::SECRET));
}

#[test]
fn render_check_names_what_flux_and_argocd_would_not_take() {
    let w = World::new();
    // (examples/k8s-app passes both: the publish tests publish it, which checks.)
    let digest = w.build("1.8.0", |dir| {
        fs_err::write(dir.join("html/.sops.yaml"), "creation_rules: []\n").unwrap();
        std::os::unix::fs::symlink("index.html", dir.join("html/start.html")).unwrap();
    });
    w.pin("dev", &digest);
    let output = w.baton(&["render", "dev", "web", "--check", "flux", "--output", "json"]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let report: baton_apply::RenderReport = baton_tests::stdout_typed(&output);
    let named: Vec<(&str, String)> =
        report.problems.iter().map(|p| (p.path.as_str(), format!("{:?}", p.consumer))).collect();
    assert!(named.contains(&("html/.sops.yaml", "Flux".into())), "{named:?}");
    assert!(named.contains(&("html/start.html", "Flux".into())), "{named:?}");
    // Argo CD takes a dotfile, and follows a link inside the tree, but a published artifact
    // holds regular files only, so the link is named for it too.
    let text = w.fails(&["render", "dev", "web", "--check", "argocd"], 4);
    assert!(text.contains("html/start.html") && !text.contains(".sops.yaml"), "{text}");
}

/// The rendering a pin records is evidence like its attestation: the audit checks it is there,
/// of that digest, for that environment and those params; one that went missing is found.
#[test]
fn the_audit_checks_the_rendering_a_pin_records() {
    let w = World::new();
    dev_publishes(&w);
    let (_, promotion) = w.example_into_dev("k8s-app");
    let published = promotion.published.expect("dev publishes");
    let audit = w.baton(&["audit"]);
    assert_eq!(audit.status.code(), Some(0), "{}{}", stdout(&audit), stderr(&audit));
    let manifest = w.state.join("stores/dev/k8s-app/blobs/sha256").join(published.hex());
    fs_err::remove_file(&manifest).unwrap();
    let audit = w.baton(&["audit"]);
    assert_eq!(audit.status.code(), Some(4), "{}{}", stdout(&audit), stderr(&audit));
    let said = stdout(&audit);
    assert!(said.contains(&format!("rendering {}", published.short())), "{said}");
}

/// An apply into an environment that publishes, of a pin made before it did (so the pin records
/// no rendering), publishes the rendering before the target changes: where the store refuses
/// the push (a registry this machine may only pull from), the target is left as it was and the
/// error says where to publish from; where it may push, the apply publishes the digest `baton
/// publish` gives and the environment's tag names it.
#[test]
fn an_apply_publishes_the_rendering_a_pin_made_before_publishing_lacks() {
    let w = World::new();
    let (_, promotion) = w.example_into_dev("k8s-app");
    assert_eq!(promotion.published, None, "dev did not publish yet");
    let pipeline = w.state.join("baton.toml");
    let original = fs_err::read_to_string(&pipeline).unwrap();

    let pull_only =
        crate::hostile::Hostile::start("read-only", &w.state.join("stores/dev/k8s-app"), None);
    let text = original.replace(
        "store = \"oci:stores/dev\"",
        &format!("store = \"{}/shop/dev\"\npublish = true", pull_only.host()),
    );
    fs_err::write(&pipeline, text).unwrap();
    w.commit("dev publishes, from a registry this machine only pulls from");
    let said = w.fails(&["apply", "dev", "k8s-app"], 1);
    assert!(said.contains("baton publish dev k8s-app"), "{said}");
    assert!(said.contains("DENIED") || said.contains("denied"), "the registry's refusal: {said}");
    // Nothing but the lock the apply held and an empty releases folder: no release, no
    // `current`, no record.
    let names = |dir: &Path| -> Vec<String> {
        fs_err::read_dir(dir)
            .map(|entries| entries.map(|e| e.unwrap().file_name().display().to_string()).collect())
            .unwrap_or_default()
    };
    let home = w.state.join("deploy/dev/k8s-app");
    let left = names(&home);
    assert!(left.iter().all(|n| n == ".lock" || n == ".releases"), "touched: {left:?}");
    assert_eq!(names(&home.join(".releases")), Vec::<String>::new(), "a release was written");
    let requests = pull_only.requests();
    assert!(requests.lines().any(|l| l.contains(" POST ")), "no push was tried: {requests}");

    let text = original
        .replace("store = \"oci:stores/dev\"", "store = \"oci:stores/dev\"\npublish = true");
    fs_err::write(&pipeline, text).unwrap();
    w.commit("dev publishes into its layout store");
    let secrets = w.dir().join("secrets");
    fs_err::create_dir_all(&secrets).unwrap();
    fs_err::write(secrets.join("dev-db-password"), "a-long-dev-password\n").unwrap();
    let secrets = secrets.to_str().unwrap();
    let applied: Vec<baton_apply::Applied> =
        w.typed(&["apply", "dev", "k8s-app", "--secrets-dir", secrets]);
    let published = applied[0].published.clone().expect("the apply published");
    assert_eq!(applied[0].action, baton_apply::ApplyAction::Applied);
    assert!(w.state.join("deploy/dev").exists());
    let again: Published = w.typed(&["publish", "dev", "k8s-app"]);
    assert_eq!(again.digest, published, "the same rendering, the same digest");
    let tagged = baton_tests::layout_tag(&w.state.join("stores/dev/k8s-app"), "dev");
    assert_eq!(tagged, Some(published.to_string()), "the tag dev names it");
}

/// When what stops the apply's publish is the rendering itself (it reads a secret, which is
/// never published), the error says to mend that, not to publish from another machine, which
/// would meet it again; the target is left as it was.
#[test]
fn an_apply_whose_rendering_cannot_be_published_says_what_to_mend() {
    let w = World::new();
    let digest = web_reading_a_secret(&w);
    w.pin("dev", &digest);
    dev_publishes(&w);
    let said = w.fails(&["apply", "dev", "web"], 1);
    assert!(said.contains("mend what is named below"), "{said}");
    assert!(said.contains("conf/tls.conf") && said.contains("secret"), "{said}");
    assert!(!said.contains("from a machine that may push"), "{said}");
    assert!(!said.contains(baton_tests::SECRET), "{said}");
    assert!(!w.state.join("deploy/dev/web/current").exists(), "the target was touched");
}
