//! The evidence of promotions: each writes a SLSA verification summary (VSA) into its
//! environment's store, signed with the promoter's SSH key and named by the pin; a `signed_by`
//! gate admits only bundles signed by a trusted key. Checked by tools nobody on the team wrote
//! (securesystemslib for every DSSE envelope, oras for the registry's referrers, cryptography
//! for the keys and keyids), and every hostile variant is refused by the gate or the applier and
//! found by the audit.

use std::path::{Path, PathBuf};

use baton_model::{BundleName, Digest, StateRecord, StoreLocation};
use baton_store::{Store, attached, evidence, referrers};
use baton_tests::{World, baton, git, python, registry, signed_commit, ssh_key, stderr, stdout};
use serde_json::Value;

/// Verifies DSSE envelopes with securesystemslib, the keys read by cryptography (an SSH
/// `.pub` line or a PEM public key), each key's id computed here as the SHA-256 of its DER
/// `SubjectPublicKeyInfo`. Prints one JSON line per envelope: the key ids that verify, the
/// predicate type, the subject digest and the resource URI.
///
/// `jsonl FILE KEY…`: each line of FILE. `layout STORE NAME DIGEST KEY…`: each referrer of
/// DIGEST in the OCI layout, found through its `sha256-<hex>` index as any OCI tool would.
/// `registry HOST REPO DIGEST KEY…`: the same in a registry, read with oras.
const VERIFY: &str = r#"
import hashlib, json, os, sys, tempfile
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

def sslib(path):
    data = open(path, "rb").read()
    if data.startswith(b"ssh-"):
        key = serialization.load_ssh_public_key(data)
    else:
        key = serialization.load_pem_public_key(data)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(der).hexdigest()
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return SSlibKey(keyid, "ed25519", "ed25519", {"public": raw.hex()})
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return SSlibKey(keyid, "ecdsa", "ecdsa-sha2-nistp256", {"public": pem.decode()})

def report(envelope_json, keys):
    envelope = Envelope.from_dict(envelope_json)
    try:
        verified = envelope.verify(keys, 1)
    except VerificationError:
        verified = {}
    statement = json.loads(envelope.payload)
    print(json.dumps({
        "verified": sorted(verified),
        "predicateType": statement["predicateType"],
        "subject": statement["subject"][0]["digest"]["sha256"],
        "resourceUri": statement["predicate"].get("resourceUri"),
        "verifiedLevels": statement["predicate"].get("verifiedLevels"),
        "result": statement["predicate"].get("result"),
    }))

INDEX = "application/vnd.oci.image.index.v1+json"
mode = sys.argv[1]
if mode == "jsonl":
    keys = [sslib(p) for p in sys.argv[3:]]
    for line in open(sys.argv[2]):
        report(json.loads(line), keys)
elif mode == "layout":
    store, name, digest = sys.argv[2:5]
    keys = [sslib(p) for p in sys.argv[5:]]
    layout = os.path.join(store, name)
    blob = lambda d: open(os.path.join(layout, "blobs", "sha256", d.split(":")[1]), "rb").read()
    tag = "sha256-" + digest.split(":")[1]
    index = json.load(open(os.path.join(layout, "index.json")))
    entry = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
    for referrer in json.loads(blob(entry["digest"]))["manifests"]:
        manifest = json.loads(blob(referrer["digest"]))
        assert manifest["subject"]["digest"] == digest, manifest
        report(json.loads(blob(manifest["layers"][0]["digest"])), keys)
elif mode == "registry":
    import oras.client
    host, repo, digest = sys.argv[2:5]
    keys = [sslib(p) for p in sys.argv[5:]]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    index = client.get_manifest(f"{host}/{repo}:sha256-{digest.split(':')[1]}", allowed_media_type=[INDEX])
    for referrer in index["manifests"]:
        manifest = client.get_manifest(f"{host}/{repo}@{referrer['digest']}")
        assert manifest["subject"]["digest"] == digest, manifest
        out = os.path.join(tempfile.mkdtemp(), "envelope.json")
        client.download_blob(f"{host}/{repo}", manifest["layers"][0]["digest"], out)
        report(json.load(open(out)), keys)
"#;

/// Runs the verifier with `args`; expects success; returns one JSON value per envelope.
pub(crate) fn verify(dir: &Path, args: &[&str]) -> Vec<Value> {
    let script = dir.join("verify.py");
    fs_err::write(&script, VERIFY).unwrap();
    let output = std::process::Command::new(python()).arg(&script).args(args).output().unwrap();
    assert!(output.status.success(), "verify.py {args:?}: {}{}", stdout(&output), stderr(&output));
    stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An openssl P-256 key pair in `dir`: (private, public).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl").args(args).status().unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key.to_str().unwrap(),
    ]);
    run(&["pkey", "-pubout", "-in", key.to_str().unwrap(), "-out", public.to_str().unwrap()]);
    (key, public)
}

/// The pipeline of these tests: dev, staging, prod; prod admits only bundles signed by `build`.
const PIPELINE: &str = r#"
[[environment]]
name = "dev"
store = "oci:stores/dev"
target = { kind = "dir", path = "deploy/dev" }

[[environment]]
name = "staging"
store = "oci:stores/staging"
target = { kind = "dir", path = "deploy/staging" }

[[environment]]
name = "prod"
store = "oci:stores/prod"
target = { kind = "dir", path = "deploy/prod" }
gates = { signed_by = ["build"] }
"#;

/// The world of these tests: signed commits by `ci` (an ed25519 SSH key), a trusted build key
/// (P-256), web built and signed by it.
struct Signed {
    w: World,
    keys: PathBuf,
    ci: PathBuf,
    build_key: PathBuf,
}

impl Signed {
    fn new() -> Signed {
        let w = World::new();
        let keys = w.dir().join("keys");
        fs_err::create_dir_all(&keys).unwrap();
        let (ci, ci_pub) = ssh_key(&keys, "ci");
        let (build_key, build_pub) = key_pair(&keys, "build");
        fs_err::write(w.state.join("baton.toml"), PIPELINE).unwrap();
        fs_err::create_dir_all(w.state.join(".baton")).unwrap();
        fs_err::write(w.state.join(".baton/allowed_signers"), format!("ci {ci_pub}\n")).unwrap();
        let pem = fs_err::read_to_string(&build_pub).unwrap();
        let trusted =
            format!("[key.build]\npublic_key = \"\"\"\n{pem}\"\"\"\ncomment = \"CI build key\"\n");
        fs_err::write(w.state.join(".baton/trusted_keys.toml"), trusted).unwrap();
        w.commit("prod takes only bundles signed by the build key");
        let s = Signed { w, keys, ci, build_key };
        s.sign(&s.w.web.clone(), &s.build_key.clone());
        s
    }

    /// `baton sign` of web@`digest` in `oci:build` with `key`, named by the environment as a CI
    /// job names it (a path in `BATON_BUNDLE_SIGN_KEY`).
    fn sign(&self, digest: &str, key: &Path) {
        let reference = format!("{}/web@{digest}", self.w.build_store());
        let output = baton(self.w.dir())
            .args(["sign", &reference])
            .env("BATON_BUNDLE_SIGN_KEY", key)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }

    /// `baton promote web --to ENV [--digest D --from-store build]`, signed by ci; the
    /// promotion's JSON, or the exit code and text when it fails.
    fn promote(&self, env: &str, digest: Option<&str>) -> Result<Value, (i32, String)> {
        let ci = self.ci.to_str().unwrap().to_owned();
        let from = self.w.build_store();
        let mut args = vec!["promote", "web", "--to", env, "--as", "ci", "--sign-key", &ci];
        if let Some(digest) = digest {
            args.extend(["--digest", digest, "--from-store", &from]);
        }
        args.extend(["--output", "json"]);
        let output = self.w.baton(&args);
        match output.status.code() {
            Some(0) => Ok(serde_json::from_slice(&output.stdout).unwrap()),
            code => Err((code.unwrap_or(-1), stdout(&output) + &stderr(&output))),
        }
    }

    /// web@`digest` through dev, staging and prod.
    fn chain(&self, digest: &str) -> Result<Value, (i32, String)> {
        self.promote("dev", Some(digest)).unwrap();
        self.promote("staging", None).unwrap();
        self.promote("prod", None)
    }

    fn store(&self, env: &str) -> Store {
        let location = StoreLocation::Layout(self.w.state.join("stores").join(env));
        Store::open(&location, &baton_tests::registry_options()).unwrap()
    }

    fn pin(&self, env: &str) -> StateRecord {
        let path = self.w.state.join(format!("state/{env}/web.toml"));
        StateRecord::from_toml(&fs_err::read_to_string(path).unwrap()).unwrap()
    }

    /// Commits `record` as the pin of its environment, shaped as baton writes one, signed
    /// by ci.
    fn forge(&self, record: &StateRecord) {
        baton_tests::forge_signed(&self.w.state, record, &self.ci);
    }

    /// The audit's findings of check `evidence`, as "expected; found" lines.
    fn evidence_findings(&self) -> Vec<String> {
        let output = self.w.baton(&["audit", "--output", "json"]);
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == "evidence")
            .map(|f| format!("{} {}; {}", f["environment"], f["expected"], f["found"]))
            .collect()
    }
}

fn web() -> BundleName {
    "web".parse().unwrap()
}

#[test]
fn every_promotion_is_attested_and_tools_nobody_here_wrote_verify_it() {
    let s = Signed::new();
    let digest = s.w.web.clone();
    let prod = s.chain(&digest).unwrap();
    let ci_pub = s.keys.join("ci.pub");
    let ci_pub = ci_pub.to_str().unwrap();
    for env in ["dev", "staging", "prod"] {
        let pin = s.pin(env);
        let attestation =
            pin.attestation.clone().unwrap_or_else(|| panic!("{env}: no attestation"));
        // securesystemslib verifies the VSA in the environment's store with ci's SSH key, the
        // keyid it computes from the key is the one baton wrote, and it names the environment.
        let store = s.w.state.join("stores").join(env);
        let found = verify(s.w.dir(), &["layout", store.to_str().unwrap(), "web", &digest, ci_pub]);
        // Each store holds the summaries of every environment the bundle passed on the way,
        // carried with it unchanged, and one of its own.
        let vsa: Vec<&Value> = found
            .iter()
            .filter(|v| v["predicateType"] == "https://slsa.dev/verification_summary/v1")
            .collect();
        let upstream = ["dev", "staging", "prod"].iter().position(|e| *e == env).unwrap();
        assert_eq!(vsa.len(), upstream + 1, "{env}: {found:?}");
        assert!(vsa.iter().all(|v| v["verified"].as_array().unwrap().len() == 1), "{vsa:?}");
        let own = format!("?env={env}");
        let vsa: Vec<&Value> = vsa
            .into_iter()
            .filter(|v| v["resourceUri"].as_str().unwrap().ends_with(&own))
            .collect();
        assert_eq!(vsa.len(), 1, "{env}: {found:?}");
        assert_eq!(vsa[0]["verified"].as_array().unwrap().len(), 1, "{env}: {vsa:?}");
        assert_eq!(vsa[0]["subject"], digest.strip_prefix("sha256:").unwrap());
        let uri = vsa[0]["resourceUri"].as_str().unwrap();
        assert!(uri.ends_with(&format!("stores/{env}/web?env={env}")), "{uri}");
        let level = format!("BATON_GATES_{}", env.to_uppercase());
        assert_eq!(vsa[0]["verifiedLevels"], serde_json::json!([level]));
        let listed = referrers::list_referrers(&s.store(env), &web(), &digest.parse().unwrap());
        assert!(listed.unwrap().iter().any(|r| r.digest == attestation), "{env}");
    }
    assert_eq!(prod["attestation"], serde_json::json!(s.pin("prod").attestation.unwrap()));
    // The prod pin records the build key's signature that its gate counted.
    let build_id = baton_sign::PublicKey::from_pem_file(&s.keys.join("build.pub")).unwrap();
    assert_eq!(s.pin("prod").signatures, vec![build_id.keyid().to_string()]);
    assert!(s.pin("dev").signatures.is_empty());

    // The audit accepts it all and exports the three envelopes it relied on.
    let output = s.w.baton(&["audit", "--export", "evidence.intoto.jsonl"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let jsonl = s.w.state.join("evidence.intoto.jsonl");
    let lines = verify(s.w.dir(), &["jsonl", jsonl.to_str().unwrap(), ci_pub]);
    let uris: Vec<&str> = lines.iter().map(|l| l["resourceUri"].as_str().unwrap()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for env in ["dev", "staging", "prod"] {
        assert!(uris.iter().any(|u| u.ends_with(&format!("?env={env}"))), "{env}: {uris:?}");
    }
    // The applier acts on it.
    s.w.ok(&["apply", "prod"]);
}

#[test]
fn unsigned_untrusted_and_misdirected_signatures_are_refused_at_prod() {
    let s = Signed::new();
    // Signed by a key nobody trusts.
    let stranger = s.w.build("2.0.0", |_| {});
    let (stranger_key, _) = key_pair(&s.keys, "stranger");
    s.sign(&stranger, &stranger_key);
    let (code, err) = s.chain(&stranger).unwrap_err();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("signed-by") && err.contains("not trusted"), "{err}");
    assert!(err.contains("baton sign"), "{err}");

    // A signature of another digest put under this one's `.sig` tag.
    let copied = s.w.build("3.0.0", |_| {});
    let build = Store::open(
        &StoreLocation::Layout(s.w.dir().join("build")),
        &baton_tests::registry_options(),
    )
    .unwrap();
    let web_digest: Digest = s.w.web.parse().unwrap();
    let layers =
        attached::read_attached(&build, &web(), &web_digest, attached::SIGNATURES).unwrap();
    assert_eq!(layers.len(), 1);
    attached::attach(&build, &web(), &copied.parse().unwrap(), attached::SIGNATURES, &layers)
        .unwrap();
    let (code, err) = s.chain(&copied).unwrap_err();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("the signature is over {}", s.w.web)), "{err}");

    // No signature at all.
    let bare = s.w.build("4.0.0", |_| {});
    let (code, err) = s.chain(&bare).unwrap_err();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no valid signature by `build`"), "{err}");

    // The audit agrees: nothing reached prod, nothing is wrong.
    assert!(s.evidence_findings().is_empty());
}

#[test]
fn replayed_removed_and_late_attestations_are_refused_and_found() {
    let s = Signed::new();
    let digest = s.w.web.clone();
    s.chain(&digest).unwrap();
    s.w.ok(&["apply", "prod"]);
    assert!(s.evidence_findings().is_empty(), "{:?}", s.evidence_findings());

    // Staging's pin made to name dev's VSA (copied into staging's store): the gate of prod
    // refuses the next digest, whose evidence for staging is dev's.
    let next = s.w.build("1.5.0", |_| {});
    s.sign(&next, &s.build_key);
    s.promote("dev", Some(&next)).unwrap();
    s.promote("staging", None).unwrap();
    let next_digest: Digest = next.parse().unwrap();
    referrers::carry_referrers(&s.store("dev"), &s.store("staging"), &web(), &next_digest).unwrap();
    let mut staging = s.pin("staging");
    staging.attestation = s.pin("dev").attestation;
    s.forge(&staging);
    let (code, err) = s.promote("prod", None).unwrap_err();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("upstream") && err.contains("not `web` in `staging`"), "{err}");
    let found = s.evidence_findings();
    assert!(
        found.iter().any(|f| f.starts_with("\"staging\"") && f.contains("not `web` in `staging`")),
        "{found:?}"
    );

    // Prod's attestation removed from its store: found by the audit, refused by a new applier.
    let prod = s.pin("prod");
    let attestation = prod.attestation.clone().unwrap();
    let blob = s.w.state.join("stores/prod/web/blobs/sha256").join(attestation.hex());
    let kept = fs_err::read(&blob).unwrap();
    fs_err::remove_file(&blob).unwrap();
    let found = s.evidence_findings();
    assert!(
        found.iter().any(|f| f.starts_with("\"prod\"") && f.contains("cannot be read")),
        "{found:?}"
    );
    let fresh = s.w.dir().join("fresh-applier");
    let output = baton(&s.w.state)
        .args(["apply", "prod"])
        .env("BATON_APPLIED_DIR", &fresh)
        .env("BATON_CACHE", s.w.dir().join("fresh-cache"))
        .env("WEB_TLS_KEY", baton_tests::SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("evidence"), "{}", stderr(&output));
    fs_err::write(&blob, kept).unwrap();

    // A VSA dated an hour after the promotion that names it, signed with the promoter's own key.
    let time: i64 = git(&s.w.state, &["log", "-1", "--format=%ct", "--", "state/prod/web.toml"])
        .trim()
        .parse()
        .unwrap();
    let late_at = jiff::Timestamp::from_second(time + 3600).unwrap();
    let pipeline = baton_model::Pipeline::from_toml(PIPELINE).unwrap();
    let env = pipeline.environment(&"prod".parse().unwrap()).unwrap();
    let summary = baton_view::Summary {
        env: &env.name,
        store: &env.store,
        bundle: &web(),
        digest: &prod.digest,
        policy: baton_view::Descriptor {
            uri: "git:baton.toml".into(),
            digest: std::collections::BTreeMap::default(),
        },
        inputs: Vec::new(),
        at: late_at,
    };
    let ci = baton_state::SigningKey::load(&s.ci).unwrap().evidence_key().unwrap();
    let subject = referrers::subject_of(&s.store("prod"), &web(), &prod.digest).unwrap();
    let late = evidence::attach_attestation(
        &s.store("prod"),
        &web(),
        &subject,
        &baton_view::vsa_statement(&summary),
        (baton_view::VSA_PREDICATE, late_at),
        &[],
        Some(&ci),
    )
    .unwrap();
    let mut forged = prod.clone();
    forged.attestation = Some(late.digest);
    forged.at = jiff::Timestamp::from_second(time).unwrap();
    s.forge(&forged);
    let found = s.evidence_findings();
    assert!(found.iter().any(|f| f.contains("after the promotion that relies on it")), "{found:?}");
}

#[test]
fn the_registry_holds_the_vsa_and_oras_lists_it_through_the_fallback_tag() {
    let s = Signed::new();
    let host = registry();
    let path = baton_tests::unique_path("evidence");
    let text = fs_err::read_to_string(s.w.state.join("baton.toml"))
        .unwrap()
        .replace("store = \"oci:stores/prod\"", &format!("store = \"{host}/{path}/prod\""));
    fs_err::write(s.w.state.join("baton.toml"), text).unwrap();
    s.w.commit("prod in the registry");
    let digest = s.w.web.clone();
    s.chain(&digest).unwrap();
    let ci_pub = s.keys.join("ci.pub");
    let found = verify(
        s.w.dir(),
        &["registry", &host, &format!("{path}/prod/web"), &digest, ci_pub.to_str().unwrap()],
    );
    let vsa: Vec<&Value> = found
        .iter()
        .filter(|v| v["predicateType"] == "https://slsa.dev/verification_summary/v1")
        .filter(|v| v["resourceUri"].as_str().unwrap().ends_with("?env=prod"))
        .collect();
    assert_eq!(vsa.len(), 1, "{found:?}");
    assert_eq!(vsa[0]["verified"].as_array().unwrap().len(), 1, "{found:?}");
    assert_eq!(vsa[0]["resourceUri"], format!("oci://{host}/{path}/prod/web?env=prod"));
    let output = s.w.baton(&["audit", "--export", "evidence.intoto.jsonl"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
}

/// Eight writers attach an attestation to one bundle at once, over a layout and over the
/// registry (which has no conditional writes): all eight are listed afterwards.
#[test]
fn eight_attestations_written_at_once_all_land() {
    let s = Signed::new();
    let host = registry();
    let path = baton_tests::unique_path("concurrent");
    let digest: Digest = s.w.web.parse().unwrap();
    // As the binary runs: Debian's registry answers 500 now and then to a read of a tag another
    // request is writing, and baton retries what is transient.
    let options = baton_store::RegistryOptions { retries: 4, ..baton_tests::registry_options() };
    let build = Store::open(&StoreLocation::Layout(s.w.dir().join("build")), &options).unwrap();
    let remote_location: StoreLocation = format!("{host}/{path}").parse().unwrap();
    let remote = Store::open(&remote_location, &options).unwrap();
    let progress: baton_store::Progress = std::sync::Arc::new(|_| {});
    baton_store::copy(&build, &web(), &digest, &remote, None, &progress).unwrap();
    for store in [&build, &remote] {
        let subject = referrers::subject_of(store, &web(), &digest).unwrap();
        let before = referrers::list_referrers(store, &web(), &digest).unwrap().len();
        let written: Vec<Digest> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|n| {
                    let (digest, subject) = (&digest, &subject);
                    scope.spawn(move || {
                        let statement = serde_json::json!({
                            "_type": "https://in-toto.io/Statement/v1",
                            "subject": [{ "name": "web", "digest": { "sha256": digest.hex() } }],
                            "predicateType": "https://in-toto.io/attestation/test-result/v0.1",
                            "predicate": { "result": "PASSED", "writer": n },
                        });
                        let at = jiff::Timestamp::from_second(1_700_000_000 + n).unwrap();
                        evidence::attach_attestation(
                            store,
                            &web(),
                            subject,
                            &statement,
                            ("https://in-toto.io/attestation/test-result/v0.1", at),
                            &[],
                            None,
                        )
                        .unwrap()
                        .digest
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let listed = referrers::list_referrers(store, &web(), &digest).unwrap();
        assert_eq!(listed.len(), before + 8, "{}", store.label());
        // The fallback index itself, as oras or cosign read it, ends up holding all of them.
        let index = store.resolve_tag(&web(), &referrers::referrers_tag(&digest)).unwrap();
        let index: baton_model::oci::Index =
            serde_json::from_slice(&store.read_manifest(&web(), &index.unwrap()).unwrap()).unwrap();
        for one in &written {
            assert!(listed.iter().any(|l| l.digest == *one), "{one} missing in {}", store.label());
            assert!(
                index.manifests.iter().any(|m| m.digest == *one),
                "{one} missing in the index of {}",
                store.label()
            );
        }
    }
}

/// A promoter whose SSH key is RSA can sign commits but not the promotion's summary: refused
/// before any byte is copied, naming the key types that can, and the environment's store is
/// left as it was.
#[test]
fn an_rsa_promoter_is_refused_before_anything_is_copied() {
    let s = Signed::new();
    let rsa = s.keys.join("ops");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "ops", "-f"])
        .arg(&rsa)
        .status()
        .unwrap();
    assert!(status.success());
    let rsa_pub = fs_err::read_to_string(rsa.with_extension("pub")).unwrap();
    let signers = s.w.state.join(".baton/allowed_signers");
    let listed = fs_err::read_to_string(&signers).unwrap() + &format!("ops {}", rsa_pub.trim());
    fs_err::write(&signers, listed + "\n").unwrap();
    git(&s.w.state, &["add", "-A"]);
    signed_commit(&s.w.state, "ops may promote", Some(&s.ci));
    let head = git(&s.w.state, &["rev-parse", "HEAD"]);
    let from = s.w.build_store();
    let output = s.w.baton(&[
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        &s.w.web,
        "--from-store",
        &from,
        "--as",
        "ops",
        "--sign-key",
        rsa.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("`ssh-rsa` key"), "{}", stderr(&output));
    assert!(stderr(&output).contains("ssh-keygen -t ed25519"), "{}", stderr(&output));
    assert!(!s.w.state.join("stores/dev/web").exists(), "bytes were copied");
    assert_eq!(git(&s.w.state, &["rev-parse", "HEAD"]), head);
}

/// A build signed with the build key, pushed to the registry: oras finds its provenance through
/// the fallback tag and pulls it by digest, securesystemslib verifies the envelope with the
/// build key (and its keyid is the one baton computes), and the cosign signature verifies.
#[test]
fn a_signed_build_in_the_registry_is_verified_by_oras_and_securesystemslib() {
    let s = Signed::new();
    let host = registry();
    let path = baton_tests::unique_path("provenance");
    let src = s.w.dir().join("src-signed");
    baton_tests::copy_tree(&baton_tests::repo_root().join("examples/web"), &src);
    let output = baton(s.w.dir())
        .args(["bundle", "build"])
        .arg(&src)
        .args(["--store", &format!("{host}/{path}"), "--output", "json"])
        .env("BATON_BUNDLE_SIGN_KEY", &s.build_key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let built: baton_build::BuildReport = baton_tests::stdout_typed(&output);
    let digest = built.digest.to_string();
    let build_pub = s.keys.join("build.pub");
    let found = verify(
        s.w.dir(),
        &["registry", &host, &format!("{path}/web"), &digest, build_pub.to_str().unwrap()],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(found[0]["subject"], digest.strip_prefix("sha256:").unwrap());
    let keyid = built.signed.unwrap().keyid;
    assert_eq!(found[0]["verified"], serde_json::json!([keyid]));
    // And the registry's bundle verifies with the key, signature and all.
    let reference = format!("{host}/{path}/web@{digest}");
    let output = baton(s.w.dir())
        .args(["verify", &reference, "--key", build_pub.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
