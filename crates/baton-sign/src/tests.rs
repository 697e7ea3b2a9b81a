//! Keys made by openssl, signatures checked by openssl and by Python's `cryptography`: the
//! formats are what tools nobody on this team wrote read.

use std::path::{Path, PathBuf};
use std::process::Command;

use baton_model::Digest;

use crate::{PublicKey, SignError, SigningKey, cosign, dsse};

fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let output = Command::new(program).current_dir(dir).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// An openssl P-256 key pair in `dir`: (private PKCS#8, public SPKI).
fn openssl_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let key_arg = key.to_str().unwrap();
    run(
        dir,
        "openssl",
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key_arg],
    );
    run(dir, "openssl", &["pkey", "-in", key_arg, "-pubout", "-out", public.to_str().unwrap()]);
    (key, public)
}

#[test]
fn openssl_verifies_what_baton_signs_and_baton_what_openssl_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = openssl_pair(dir, "build");
    let signer = SigningKey::from_pem_file(&key).unwrap();
    let message = b"the bytes that passed staging";
    fs_err::write(dir.join("message"), message).unwrap();
    fs_err::write(dir.join("baton.sig"), signer.sign(message)).unwrap();
    let verified = run(
        dir,
        "openssl",
        &["dgst", "-sha256", "-verify", "build.pub", "-signature", "baton.sig", "message"],
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("Verified OK"));

    run(
        dir,
        "openssl",
        &["dgst", "-sha256", "-sign", "build.key", "-out", "openssl.sig", "message"],
    );
    let checker = PublicKey::from_pem_file(&public).unwrap();
    let theirs = fs_err::read(dir.join("openssl.sig")).unwrap();
    checker.verify(message, &theirs).unwrap();
    assert!(matches!(checker.verify(b"other bytes", &theirs), Err(SignError::BadSignature { .. })));
    assert_eq!(signer.public(), &checker);
}

#[test]
fn the_keyid_is_the_sha256_of_the_public_key_der_and_sec1_keys_load_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run(
        dir,
        "openssl",
        &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sec1.key"],
    );
    let text = fs_err::read_to_string(dir.join("sec1.key")).unwrap();
    assert!(text.contains("BEGIN EC PRIVATE KEY"), "{text}");
    run(
        dir,
        "openssl",
        &["pkey", "-in", "sec1.key", "-pubout", "-outform", "DER", "-out", "pub.der"],
    );
    let der = run(dir, "openssl", &["dgst", "-sha256", "-r", "pub.der"]);
    let expected = String::from_utf8_lossy(&der.stdout).split(' ').next().unwrap().to_owned();
    let key = SigningKey::from_pem_file(&dir.join("sec1.key")).unwrap();
    assert_eq!(key.keyid().as_str(), expected);
    assert_eq!(PublicKey::from_pem(&key.public().to_pem()).unwrap().keyid().as_str(), expected);
    // Debug shows the key id, never the key.
    let debug = format!("{key:?}");
    assert!(debug.contains(&expected) && !debug.contains("BEGIN"), "{debug}");
}

#[test]
fn encrypted_and_foreign_keys_are_refused_naming_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run(
        dir,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes256",
            "-pass",
            "pass:hunter2",
            "-out",
            "locked.key",
        ],
    );
    let err = SigningKey::from_pem_file(&dir.join("locked.key")).unwrap_err();
    assert!(matches!(err, SignError::Encrypted { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("locked.key") && text.contains("openssl genpkey"), "{text}");

    run(dir, "openssl", &["genpkey", "-algorithm", "ED25519", "-out", "ed.key"]);
    let err = SigningKey::from_pem_file(&dir.join("ed.key")).unwrap_err().to_string();
    assert!(err.contains("ed.key") && err.contains("P-256"), "{err}");
    fs_err::write(dir.join("empty.pub"), "").unwrap();
    let err = PublicKey::from_pem_file(&dir.join("empty.pub")).unwrap_err().to_string();
    assert!(err.contains("empty.pub") && err.contains("public"), "{err}");
    let err = SigningKey::from_pem_file(&dir.join("missing.key")).unwrap_err().to_string();
    assert!(err.contains("missing.key"), "{err}");
}

#[test]
fn the_pre_authentication_encoding_is_the_specs() {
    // The example of the DSSE protocol document.
    assert_eq!(
        dsse::pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
}

/// Verifies `envelope` (JSON) with the public key in `public` by Python's `cryptography`,
/// rebuilding the pre-authentication encoding there from the DSSE specification; prints the
/// payload type and each keyid that verified.
const PYTHON_DSSE: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
envelope = json.load(open(sys.argv[1]))
key = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
payload = base64.b64decode(envelope["payload"])
kind = envelope["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
for s in envelope["signatures"]:
    key.verify(base64.b64decode(s["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    print(s["keyid"])
"#;

#[test]
fn a_dsse_envelope_verifies_in_python_and_only_with_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = openssl_pair(dir, "promoter");
    let (_, other) = openssl_pair(dir, "other");
    let signer = SigningKey::from_pem_file(&key).unwrap();
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
    let envelope = dsse::Envelope::sign(dsse::IN_TOTO_PAYLOAD_TYPE, statement, &signer);
    fs_err::write(dir.join("envelope.json"), envelope.to_line()).unwrap();
    fs_err::write(dir.join("check.py"), PYTHON_DSSE).unwrap();
    let python = run(dir, "python3", &["check.py", "envelope.json", public.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), signer.keyid().as_str());

    let keys =
        [PublicKey::from_pem_file(&other).unwrap(), PublicKey::from_pem_file(&public).unwrap()];
    assert_eq!(envelope.verified_by(&keys).unwrap(), [signer.keyid()]);
    assert!(envelope.verified_by(&keys[..1]).unwrap().is_empty());
    // An empty keyid, as cosign writes, is still matched by trying each key.
    let mut anonymous = envelope.clone();
    anonymous.signatures[0].keyid.clear();
    assert_eq!(anonymous.verified_by(&keys).unwrap(), [signer.keyid()]);
    // A changed payload or payload type verifies with no key.
    let mut forged = envelope.clone();
    forged.payload_type = "application/vnd.in-toto.vsa+json".into();
    assert!(forged.verified_by(&keys).unwrap().is_empty());
    let mut forged = envelope;
    forged.payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"{}");
    assert!(forged.verified_by(&keys).unwrap().is_empty());
}

/// Checks a cosign simple-signing signature as cosign does, in Python's `cryptography`: the
/// base64 signature over the payload bytes, then the digest the payload names.
const PYTHON_COSIGN: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
payload = open(sys.argv[1], "rb").read()
signature = base64.b64decode(open(sys.argv[2]).read())
key = serialization.load_pem_public_key(open(sys.argv[3], "rb").read())
key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
critical = json.loads(payload)["critical"]
assert critical["type"] == "cosign container image signature", critical
print(critical["image"]["docker-manifest-digest"])
"#;

#[test]
fn a_cosign_signature_names_the_digest_and_verifies_in_python() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = openssl_pair(dir, "build");
    let signer = SigningKey::from_pem_file(&key).unwrap();
    let digest = Digest::of(b"a manifest");
    let stored = cosign::sign("registry.example.com/team/web", &digest, &signer);
    fs_err::write(dir.join("payload.json"), &stored.payload).unwrap();
    fs_err::write(dir.join("signature.b64"), &stored.signature).unwrap();
    fs_err::write(dir.join("check.py"), PYTHON_COSIGN).unwrap();
    let python = run(
        dir,
        "python3",
        &["check.py", "payload.json", "signature.b64", public.to_str().unwrap()],
    );
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), digest.to_string());

    let verifier = PublicKey::from_pem_file(&public).unwrap();
    let payload = cosign::verify(&stored, &digest, &verifier).unwrap();
    assert_eq!(payload.critical.identity.docker_reference, "registry.example.com/team/web");
    let err = cosign::verify(&stored, &Digest::of(b"another manifest"), &verifier).unwrap_err();
    assert!(err.to_string().contains("not sha256:"), "{err}");
    let (_, other) = openssl_pair(dir, "other");
    let err = cosign::verify(&stored, &digest, &PublicKey::from_pem_file(&other).unwrap());
    assert!(matches!(err, Err(SignError::BadSignature { .. })));
    assert_eq!(cosign::signature_tag(&digest), format!("sha256-{}.sig", digest.hex()));
}
