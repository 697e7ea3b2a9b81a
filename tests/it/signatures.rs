//! Bundle signatures in cosign's tag-based format: made at build or by `baton sign` with a key
//! openssl made, read back by Python's `cryptography` straight from the OCI layout and by skopeo
//! from the registry, checked by `verify --key`, and carried unchanged by copy and promote.

use std::path::{Path, PathBuf};

use baton_build::{BuildReport, SignReport, VerifyReport};
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
    let output =
        baton(dir).args(["bundle", "copy", &reference, "oci:elsewhere"]).output().unwrap();
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
    let output =
        baton(w.dir()).args(["bundle", "copy", &reference, &store]).output().unwrap();
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
