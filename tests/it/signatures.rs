//! Bundle signatures in cosign's tag-based format: made at build or by `baton sign` with a key
//! openssl made, read back by Python's `cryptography` straight from the OCI layout and by skopeo
//! from the registry, checked by `verify --key`, and carried unchanged by copy and promote.

use std::path::{Path, PathBuf};

use baton_build::{BuildReport, EvidenceReport, SignReport, VerifyReport};
use baton_tests::{World, baton, example, registry, stderr, stdout_typed, unique_path};

/// An openssl P-256 key pair in `dir`: (private, public).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for args in [
        vec!["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"],
        vec!["pkey", "-pubout", "-in", key.to_str().unwrap(), "-out"],
    ] {
        let target = if args[0] == "genpkey" { &key } else { &public };
        let status =
            std::process::Command::new("openssl").args(&args).arg(target).status().unwrap();
        assert!(status.success());
    }
    (key, public)
}

/// Reads the signatures of DIGEST of NAME in the OCI layout STORE as any OCI tool would
/// (index.json, the `sha256-<hex>.sig` tag, its manifest, each layer and its annotation) and
/// checks each with `cryptography` and PUBLIC KEY; prints the digest each payload names.
const PYTHON_LAYOUT: &str = r#"
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
store, name, digest, public = sys.argv[1:5]
layout = os.path.join(store, name)
blob = lambda d: open(os.path.join(layout, "blobs", "sha256", d.split(":")[1]), "rb").read()
tag = "sha256-" + digest.split(":")[1] + ".sig"
index = json.load(open(os.path.join(layout, "index.json")))
entry = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
manifest = json.loads(blob(entry["digest"]))
key = serialization.load_pem_public_key(open(public, "rb").read())
for layer in manifest["layers"]:
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json", layer
    payload = blob(layer["digest"])
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    print(json.loads(payload)["critical"]["image"]["docker-manifest-digest"])
"#;

#[test]
fn a_bundle_signed_at_build_verifies_with_its_key_in_python_and_in_baton() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = key_pair(dir, "build");
    let (other_key, other) = key_pair(dir, "other");
    example(dir, "web");
    let output = baton(dir)
        .args(["bundle", "build", "web", "--store", "oci:store", "--output", "json"])
        .args(["--sign-key", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let built: BuildReport = stdout_typed(&output);
    let signed = built.signed.as_ref().unwrap();
    assert!(signed.added);
    let digest = built.digest.to_string();

    fs_err::write(dir.join("check.py"), PYTHON_LAYOUT).unwrap();
    let python = std::process::Command::new("python3")
        .current_dir(dir)
        .args(["check.py", "store", "web", &digest, public.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), digest);

    let reference = format!("oci:store/web@{digest}");
    let verify = |keys: &[&Path]| {
        let mut command = baton(dir);
        command.args(["verify", &reference, "--output", "json"]);
        for key in keys {
            command.arg("--key").arg(key);
        }
        command.output().unwrap()
    };
    let output = verify(&[&public]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: VerifyReport = stdout_typed(&output);
    assert_eq!(report.signatures.len(), 1);
    assert_eq!(report.signatures[0].keyid.as_deref(), Some(signed.keyid.as_str()));

    // Another key: exit 4, naming the key and the fix.
    let output = verify(&[&other]);
    assert_eq!(output.status.code(), Some(4));
    let report: VerifyReport = stdout_typed(&output);
    let problem = &report.findings[0].problem;
    assert!(problem.contains("no signature verifies with key") && problem.contains("baton sign"));

    // Signing again is a no-op; a second key adds a second signature; either key verifies.
    let sign = |key: &Path| -> SignReport {
        stdout_typed(
            &baton(dir)
                .args(["sign", &reference, "--key", key.to_str().unwrap(), "--output", "json"])
                .output()
                .unwrap(),
        )
    };
    assert!(!sign(&key).added);
    assert!(sign(&other_key).added);
    assert_eq!(verify(&[&other]).status.code(), Some(0));
    let report: VerifyReport = stdout_typed(&verify(&[&public, &other]));
    assert_eq!(report.signatures.len(), 2);
    assert!(report.signatures.iter().all(|s| s.keyid.is_some()), "{report:?}");

    // A copy carries both signatures, unchanged.
    let output = baton(dir).args(["bundle", "copy", &reference, "oci:elsewhere"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let copied = format!("oci:elsewhere/web@{digest}");
    let output = baton(dir)
        .args(["verify", &copied, "--key", public.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_typed::<VerifyReport>(&output).signatures.len(), 2);
}

#[test]
fn an_encrypted_key_is_refused_before_anything_is_built() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let status = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .args(["-aes256", "-pass", "pass:hunter2", "-out", "locked.key"])
        .status()
        .unwrap();
    assert!(status.success());
    example(dir, "web");
    let output = baton(dir)
        .args(["bundle", "build", "web", "--store", "oci:store", "--sign-key", "locked.key"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("locked.key") && err.contains("encrypted"), "{err}");
    assert!(!err.contains("hunter2"));
    assert!(!dir.join("store").exists(), "nothing is built with a key that cannot sign");
}

/// Promotion copies the signature into each environment's store with the bundle; skopeo reads
/// the signature manifest from the registry as cosign would find it.
#[test]
fn promotion_carries_the_signature_and_skopeo_reads_it_from_the_registry() {
    let w = World::new();
    let (key, public) = key_pair(w.dir(), "build");
    let reference = format!("{}/web@{}", w.build_store(), w.web);
    let signed: SignReport = w.typed(&["sign", &reference, "--key", key.to_str().unwrap()]);
    assert!(signed.added);
    w.pin("dev", &w.web.clone());
    let dev = format!("oci:{}/web@{}", w.state.join("stores/dev").display(), w.web);
    let output = w.baton(&["verify", &dev, "--key", public.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    w.ok(&["audit"]);

    let store = format!("{}/{}", registry(), unique_path("signed"));
    let output = baton(w.dir()).args(["bundle", "copy", &reference, &store]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let remote = format!("{store}/web@{}", w.web);
    let output = baton(w.dir())
        .args(["verify", &remote, "--key", public.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: VerifyReport = stdout_typed(&output);
    assert_eq!(report.signatures[0].keyid.as_deref(), Some(signed.keyid.as_str()));
    let tag = format!("sha256-{}.sig", w.web.trim_start_matches("sha256:"));
    let skopeo = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{store}/web:{tag}"))
        .output()
        .unwrap();
    assert!(skopeo.status.success(), "{}", String::from_utf8_lossy(&skopeo.stderr));
    let manifest: serde_json::Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    assert!(manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].is_string());
}

/// Follows the referrers fallback of DIGEST of NAME in the OCI layout STORE (the index tagged
/// `sha256-<hex>`), as oras does where a registry has no referrers API: each referrer's manifest,
/// its subject and its DSSE layer, whose signature `cryptography` checks with PUBLIC KEY over
/// the DSSE pre-authentication encoding rebuilt here from the specification. Prints the
/// statement's predicate type, subject digest and the commit it names.
const PYTHON_PROVENANCE: &str = r#"
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
store, name, digest, public = sys.argv[1:5]
layout = os.path.join(store, name)
blob = lambda d: open(os.path.join(layout, "blobs", "sha256", d.split(":")[1]), "rb").read()
tag = "sha256-" + digest.split(":")[1]
index = json.load(open(os.path.join(layout, "index.json")))
entry = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
referrers = json.loads(blob(entry["digest"]))
assert referrers["mediaType"] == "application/vnd.oci.image.index.v1+json", referrers
key = serialization.load_pem_public_key(open(public, "rb").read())
for referrer in referrers["manifests"]:
    manifest = json.loads(blob(referrer["digest"]))
    assert manifest["subject"]["digest"] == digest, manifest
    assert manifest["artifactType"] == referrer["artifactType"] == "application/vnd.baton.attestation.v1+json"
    envelope = json.loads(blob(manifest["layers"][0]["digest"]))
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    statement = json.loads(payload)
    commit = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"]
    print(statement["predicateType"], statement["subject"][0]["digest"]["sha256"], commit)
"#;

/// The build's provenance is an OCI referrer of the bundle, a signed DSSE envelope of SLSA
/// Provenance v1 naming the commit; a rebuild at a later commit with the same files writes no
/// second one; copying carries it.
#[test]
fn the_provenance_is_a_signed_referrer_naming_the_first_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = key_pair(dir, "build");
    let repo = dir.join("infra");
    baton_tests::copy_tree(&baton_tests::repo_root().join("examples/web"), &repo.join("web"));
    fs_err::write(repo.join("README.md"), "infra\n").unwrap();
    baton_tests::git(&repo, &["init", "-q", "-b", "main"]);
    baton_tests::git(&repo, &["add", "-A"]);
    baton_tests::git(&repo, &["commit", "-q", "-m", "web"]);
    let first = baton_tests::git(&repo, &["rev-parse", "HEAD"]);
    let rebuild = || -> BuildReport {
        let output = baton(&repo)
            .args(["bundle", "build", "web", "--store", "oci:store", "--output", "json"])
            .args(["--sign-key", key.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout_typed(&output)
    };
    let built = rebuild();
    assert!(built.provenance.is_some());
    fs_err::write(repo.join("README.md"), "infra, later\n").unwrap();
    baton_tests::git(&repo, &["commit", "-q", "-am", "unrelated"]);
    let again = rebuild();
    assert!(again.unchanged && again.provenance.is_none(), "{again:?}");

    let digest = built.digest.to_string();
    fs_err::write(dir.join("check.py"), PYTHON_PROVENANCE).unwrap();
    let python = std::process::Command::new("python3")
        .current_dir(dir)
        .args(["check.py", repo.join("store").to_str().unwrap(), "web", &digest])
        .arg(&public)
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        format!("https://slsa.dev/provenance/v1 {hex} {first}"),
        "one provenance, naming the first commit"
    );
    // `baton evidence` lists the signature and the provenance, verified with the key; with
    // another key neither counts (exit 4); with none, both are listed unchecked.
    let reference = format!("oci:store/web@{digest}");
    let evidence = |keys: &[&Path]| {
        let mut command = baton(&repo);
        command.args(["evidence", &reference, "--output", "json"]);
        for key in keys {
            command.arg("--key").arg(key);
        }
        command.output().unwrap()
    };
    let output = evidence(&[&public]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: EvidenceReport = stdout_typed(&output);
    let keyid = built.signed.as_ref().unwrap().keyid.clone();
    assert_eq!(report.signatures.len(), 1);
    assert_eq!(report.signatures[0].keyid.as_deref(), Some(keyid.as_str()));
    assert_eq!(report.attestations.len(), 1);
    let provenance = &report.attestations[0];
    assert_eq!(provenance.predicate_type.as_deref(), Some("https://slsa.dev/provenance/v1"));
    assert_eq!(provenance.verified_by, std::slice::from_ref(&keyid));
    assert_eq!(provenance.keyids, [keyid]);
    assert!(provenance.problem.is_none(), "{provenance:?}");
    let (_, other) = key_pair(dir, "other");
    let output = evidence(&[&other]);
    assert_eq!(output.status.code(), Some(4));
    let report: EvidenceReport = stdout_typed(&output);
    assert!(report.attestations[0].problem.as_deref().unwrap().contains("not signed by any key"));
    let output = evidence(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let people = baton(&repo).args(["evidence", &reference]).output().unwrap();
    let text = baton_tests::stdout(&people);
    assert!(
        text.contains("https://slsa.dev/provenance/v1") && text.contains("give --key"),
        "{text}"
    );

    // The bundle list shows bundles, not their attestations.
    let listed = baton(&repo).args(["bundle", "list", "--store", "oci:store"]).output().unwrap();
    assert_eq!(baton_tests::stdout(&listed).lines().count(), 2, "{}", baton_tests::stdout(&listed));

    // Copied to a registry with the bundle; skopeo reads the fallback index there.
    let store = format!("{}/{}", registry(), unique_path("attested"));
    let local = format!("oci:{}/web@{digest}", repo.join("store").display());
    let output = baton(dir).args(["bundle", "copy", &local, &store]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let skopeo = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{store}/web:sha256-{hex}"))
        .output()
        .unwrap();
    assert!(skopeo.status.success(), "{}", String::from_utf8_lossy(&skopeo.stderr));
    let index: serde_json::Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        index["manifests"][0]["annotations"]["in-toto.io/predicate-type"],
        "https://slsa.dev/provenance/v1"
    );
}
