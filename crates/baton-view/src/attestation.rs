//! The promotion's attestation: a SLSA Verification Summary (VSA) saying "digest D of bundle B
//! passed the gates of environment E", written by the promoter into E's store as a referrer of
//! the bundle, signed with the key that signs the promotion's commit, and named by the pin.
//! [`View::pin_evidence`] checks what a pin relies on (its attestation and the bundle
//! signatures its `signed_by` gate counted) for the auditor and the applier alike.

use std::collections::BTreeMap;

use baton_model::layout::ALLOWED_SIGNERS;
use baton_model::{BundleName, Digest, EnvName, Principal, StateRecord, StoreLocation};
use baton_sign::PublicKey;
use baton_state::{AllowedSigners, ObjectId};
use baton_store::{
    Store,
    evidence::{Attestation, check_signatures, read_attestation},
};
use jiff::Timestamp;
use serde_json::json;

use crate::{View, ViewError, commit_time, view::error_chain};

/// SLSA Verification Summary v1.
pub const VSA_PREDICATE: &str = "https://slsa.dev/verification_summary/v1";
/// Who verifies: baton's gate evaluator.
pub const VERIFIER_ID: &str = "https://baton.dev/verifier/v1";

/// The resource a promotion's VSA is about: the bundle in the environment's store, with the
/// environment named, so that a VSA of `dev` can never stand for `prod`
/// (`oci://registry.example.com/prod/web?env=prod`, `oci:stores/prod/web?env=prod`).
pub fn resource_uri(store: &StoreLocation, bundle: &BundleName, env: &EnvName) -> String {
    let base = match store {
        StoreLocation::Registry { .. } => format!("oci://{store}"),
        StoreLocation::Layout(_) => store.to_string(),
    };
    format!("{base}/{bundle}?env={env}")
}

/// The level a promotion into `env` verifies: `BATON_GATES_<ENV>` (a custom level; never
/// `SLSA_…`).
pub fn verified_level(env: &EnvName) -> String {
    format!("BATON_GATES_{}", env.as_str().to_ascii_uppercase().replace(['-', '.'], "_"))
}

/// A resource descriptor of an input or a policy: a URI and digests.
#[derive(Clone, Debug)]
pub struct Descriptor {
    /// Where it is.
    pub uri: String,
    /// Its digests, by algorithm (`sha256`, `gitCommit`).
    pub digest: BTreeMap<String, String>,
}

impl Descriptor {
    fn to_json(&self) -> serde_json::Value {
        json!({ "uri": self.uri, "digest": self.digest })
    }
}

/// What a promotion's VSA says.
pub struct Summary<'a> {
    /// The environment promoted to.
    pub env: &'a EnvName,
    /// Its store, as `baton.toml` writes it.
    pub store: &'a StoreLocation,
    /// The bundle.
    pub bundle: &'a BundleName,
    /// The digest promoted.
    pub digest: &'a Digest,
    /// `baton.toml` at the commit the gates were read at.
    pub policy: Descriptor,
    /// What the gates relied on: the upstream pin and its attestation, the approvals.
    pub inputs: Vec<Descriptor>,
    /// When the gates were evaluated (the instant the pin's commit carries).
    pub at: Timestamp,
}

/// The in-toto Statement of a promotion's VSA.
pub fn statement(summary: &Summary<'_>) -> serde_json::Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{
            "name": summary.bundle.to_string(),
            "digest": { "sha256": summary.digest.hex() },
        }],
        "predicateType": VSA_PREDICATE,
        "predicate": {
            "verifier": { "id": VERIFIER_ID, "version": { "baton": env!("CARGO_PKG_VERSION") } },
            "timeVerified": summary.at.to_string(),
            "resourceUri": resource_uri(summary.store, summary.bundle, summary.env),
            "policy": summary.policy.to_json(),
            "inputAttestations": summary.inputs.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
            "verificationResult": "PASSED",
            "verifiedLevels": [verified_level(summary.env)],
        },
    })
}

/// Why `attestation` is not the VSA of promoting `digest` of `bundle` into `env` at
/// `promoted_at`, signed by one of `keys` (`None`: nothing requires a signature).
pub fn check_vsa(
    attestation: &Attestation,
    (env, bundle, digest): (&EnvName, &BundleName, &Digest),
    promoted_at: Timestamp,
    keys: Option<&[PublicKey]>,
) -> Result<(), String> {
    if attestation.predicate_type() != Some(VSA_PREDICATE) {
        return Err(format!(
            "its predicate type is {}, not a verification summary",
            attestation.predicate_type().unwrap_or("missing")
        ));
    }
    if !attestation.is_about(digest) {
        return Err(format!("it is about another digest than {}", digest.short()));
    }
    let predicate = &attestation.statement["predicate"];
    let uri = predicate["resourceUri"].as_str().unwrap_or_default();
    let suffix = format!("/{bundle}?env={env}");
    if !uri.ends_with(&suffix) {
        return Err(format!("its resourceUri is `{uri}`, not `{bundle}` in `{env}`"));
    }
    if predicate["verificationResult"].as_str() != Some("PASSED") {
        return Err("its verificationResult is not PASSED".into());
    }
    let verified = predicate["timeVerified"].as_str().and_then(|t| t.parse::<Timestamp>().ok());
    match verified {
        None => return Err("it has no timeVerified".into()),
        Some(t) if t > promoted_at => {
            return Err(format!(
                "it was made at {t}, after the promotion that relies on it ({promoted_at})"
            ));
        }
        Some(_) => {}
    }
    if let Some(keys) = keys
        && attestation.verified_by(keys).is_empty()
    {
        let declared: Vec<&str> =
            attestation.envelope.signatures.iter().map(|s| s.keyid.as_str()).collect();
        return Err(format!(
            "it is not signed by a key the promoter is listed with in .baton/allowed_signers (it declares {})",
            if declared.is_empty() { "no signature".to_owned() } else { declared.join(", ") }
        ));
    }
    Ok(())
}

/// What a pin says it relies on.
#[derive(Clone, Copy, Debug)]
pub struct Claims<'a> {
    /// The bundle.
    pub bundle: &'a BundleName,
    /// The digest pinned.
    pub digest: &'a Digest,
    /// Who promoted (whose key signs the attestation).
    pub by: &'a Principal,
    /// The key ids of the bundle signatures the promotion counted.
    pub signatures: &'a [String],
    /// The promotion's attestation.
    pub attestation: Option<&'a Digest>,
    /// The environment the digest came from.
    pub from: Option<&'a EnvName>,
    /// The upstream targets' reports the `verified` gate counted.
    pub verifications: &'a [baton_model::RecordedVerification],
    /// The params file's digest the pin records.
    pub params_digest: &'a Digest,
    /// The environment's published rendering the pin records.
    pub published: Option<&'a Digest>,
}

impl<'a> From<&'a StateRecord> for Claims<'a> {
    fn from(pin: &'a StateRecord) -> Claims<'a> {
        Claims {
            bundle: &pin.bundle,
            digest: &pin.digest,
            by: &pin.by,
            signatures: &pin.signatures,
            attestation: pin.attestation.as_ref(),
            from: pin.from.as_ref(),
            verifications: &pin.verifications,
            params_digest: &pin.params_digest,
            published: pin.published.as_ref(),
        }
    }
}

impl Claims<'_> {
    /// True when the pin names something in its environment's store beside the bundle (a
    /// signature, an attestation, a report, a rendering): only then has [`View::pin_evidence`]
    /// anything to read there.
    pub fn relies_on_store(&self) -> bool {
        !self.signatures.is_empty()
            || self.attestation.is_some()
            || !self.verifications.is_empty()
            || self.published.is_some()
    }
}

/// What the evidence of one pin came to.
#[derive(Clone, Debug, Default)]
pub struct PinEvidence {
    /// What does not hold; empty when all does.
    pub problems: Vec<EvidenceProblem>,
    /// The attestation's DSSE envelope as one JSON line, when it was read and holds.
    pub envelope: Option<String>,
}

/// One problem of the evidence a pin relies on: what was expected, what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceProblem {
    /// What the pin relies on.
    pub expected: String,
    /// What the store holds.
    pub found: String,
}

impl View {
    /// The problems of the evidence `pin` relies on, in `store` (the environment's): its
    /// attestation is there, is the VSA of this promotion, was made before `commit` (the commit
    /// that wrote the pin) and is signed by the promoter's key where signatures are required;
    /// each bundle signature it counted verifies over the digest with the trusted key of that id
    /// as `.baton/trusted_keys.toml` stood at `commit`. Empty when all hold.
    pub fn pin_evidence(
        &self,
        store: &Store,
        env: &EnvName,
        pin: Claims<'_>,
        commit: ObjectId,
    ) -> Result<PinEvidence, ViewError> {
        let mut problems = Vec::new();
        let mut envelope = None;
        if !pin.relies_on_store() {
            return Ok(PinEvidence::default());
        }
        let info = self.repo.commit_info(commit)?;
        let at = commit_time(info.time);
        let (bundle, digest) = (pin.bundle, pin.digest);
        let place = format!("{}/{bundle}@{}", store.label(), digest.short());
        if !pin.signatures.is_empty() {
            let trusted = self.trusted_keys_in(info.tree)?;
            for keyid in pin.signatures {
                let expected = format!("a signature of {place} by key {keyid}");
                let key = match &trusted {
                    Ok(trusted) => trusted.by_keyid(keyid).map(|k| k.key.clone()),
                    Err(_) => None,
                };
                let Some(key) = key else {
                    problems.push(EvidenceProblem {
                        expected,
                        found: "the key is not in .baton/trusted_keys.toml at the promotion".into(),
                    });
                    continue;
                };
                let found = match check_signatures(store, bundle, digest, &[key]) {
                    Ok(checks) if checks.iter().any(|c| c.keyid.as_deref() == Some(keyid)) => {
                        continue;
                    }
                    Ok(checks) if checks.is_empty() => "no signature in the store".to_owned(),
                    Ok(checks) => format!(
                        "{} signature(s), none by that key over this digest ({})",
                        checks.len(),
                        checks
                            .iter()
                            .filter_map(|c| c.problem.clone())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    Err(e) => format!("the signatures cannot be read: {}", error_chain(&e)),
                };
                problems.push(EvidenceProblem { expected, found });
            }
        }
        if let Some(attestation) = pin.attestation {
            let expected = format!(
                "attestation {} in {}: the verification summary of {} for `{env}`, made before the promotion",
                attestation.short(),
                store.label(),
                digest.short()
            );
            // Where signers are required, the promoter's listed keys; a file that does not parse
            // still requires a signature, and lists no key (as the judge reads it).
            let keys = match self.repo.blob_id_in(info.tree, ALLOWED_SIGNERS)? {
                None => None,
                Some(id) => Some(
                    AllowedSigners::parse(&String::from_utf8_lossy(&self.repo.blob(id)?))
                        .map(|signers| signers.evidence_keys_for(pin.by.as_str(), info.time))
                        .unwrap_or_default(),
                ),
            };
            let found = match read_attestation(store, bundle, attestation) {
                Ok(Ok(read)) => {
                    let problem =
                        check_vsa(&read, (env, bundle, digest), at, keys.as_deref()).err();
                    if problem.is_none() {
                        envelope = Some(read.to_line());
                    }
                    problem
                }
                Ok(Err(why)) => Some(why),
                Err(e) => Some(format!("it cannot be read: {}", error_chain(&e))),
            };
            if let Some(found) = found {
                problems.push(EvidenceProblem { expected, found });
            }
        }
        if !pin.verifications.is_empty() {
            self.check_verifications(store, pin, (commit, info.tree, at), &mut problems)?;
        }
        if let Some(published) = pin.published {
            let expected = format!(
                "rendering {} in {}: `{env}`'s rendering of {} with params {}",
                published.short(),
                store.label(),
                digest.short(),
                pin.params_digest.short()
            );
            if let Some(found) = check_published(store, env, &pin, published) {
                problems.push(EvidenceProblem { expected, found });
            }
        }
        Ok(PinEvidence { problems, envelope })
    }

    /// Each upstream report a pin's `verified` gate counted: in the environment's store (the
    /// copy carried it with the bundle), a report of that upstream target about the digest,
    /// PASSED at the recorded time (no later than the promotion at `at`), rendered with the
    /// params the upstream pin recorded at the promotion, signed by the target's listed key
    /// where signatures are required.
    fn check_verifications(
        &self,
        store: &Store,
        pin: Claims<'_>,
        (commit, tree, at): (ObjectId, ObjectId, Timestamp),
        problems: &mut Vec<EvidenceProblem>,
    ) -> Result<(), ViewError> {
        let (bundle, digest) = (pin.bundle, pin.digest);
        let Some(up) = pin.from else {
            problems.push(EvidenceProblem {
                expected: "the environment the verified targets belong to".into(),
                found: format!("the pin records reports but no `from` (commit {commit})"),
            });
            return Ok(());
        };
        let signers = self.allowed_signers_in(tree)?;
        let upstream_pin = match self.repo.blob_id_in(tree, &crate::state_path(up, bundle))? {
            Some(id) => StateRecord::from_toml(&String::from_utf8_lossy(&self.repo.blob(id)?)).ok(),
            None => None,
        };
        for recorded in pin.verifications {
            let expected = format!(
                "report {} in {}: `{}` of `{up}` verified {} PASSED at {}",
                recorded.report.short(),
                store.label(),
                recorded.target,
                digest.short(),
                recorded.at
            );
            let found = match read_attestation(store, bundle, &recorded.report) {
                Ok(Ok(read)) => {
                    match crate::check_report(&read, (up, bundle, digest), signers.as_ref()) {
                        Ok(report) if report.target != recorded.target => {
                            Some(format!("it is `{}`'s report", report.target))
                        }
                        Ok(report) if !report.passed() => {
                            Some("its verification is not PASSED".to_owned())
                        }
                        Ok(report) if report.at != recorded.at => {
                            Some(format!("it is dated {}", report.at))
                        }
                        Ok(report) if report.at > at => Some(format!(
                            "it is dated {}, after the promotion (commit {commit}, {at})",
                            report.at
                        )),
                        Ok(report)
                            if upstream_pin
                                .as_ref()
                                .is_some_and(|p| p.params_digest != report.params_digest) =>
                        {
                            Some(format!(
                                "it is for params {}, not the {} `{up}` pinned",
                                report.params_digest.short(),
                                upstream_pin.as_ref().map_or("", |p| p.params_digest.short())
                            ))
                        }
                        Ok(_) => None,
                        Err(why) => Some(why),
                    }
                }
                Ok(Err(why)) => Some(why),
                Err(e) => Some(format!("it cannot be read: {}", error_chain(&e))),
            };
            if let Some(found) = found {
                problems.push(EvidenceProblem { expected, found });
            }
        }
        Ok(())
    }
}

/// What is wrong with the rendering `published` a pin records, in the environment's store:
/// there, an artifact of baton's rendered type whose subject is the pin's digest and whose
/// config names the environment, the bundle's digest and the pin's params. `None` when it holds.
fn check_published(
    store: &Store,
    env: &EnvName,
    pin: &Claims<'_>,
    published: &Digest,
) -> Option<String> {
    let bytes = match store.read_manifest(pin.bundle, published) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("it cannot be read: {}", error_chain(&e))),
    };
    let Ok(manifest) = serde_json::from_slice::<baton_model::oci::Manifest>(&bytes) else {
        return Some("its manifest is not an OCI image manifest".into());
    };
    if manifest.artifact_type.as_deref() != Some(baton_model::oci::RENDERED_ARTIFACT_TYPE) {
        return Some(format!("an artifact of type {:?}, not a rendering", manifest.artifact_type));
    }
    if manifest.subject.as_ref().map(|s| &s.digest) != Some(pin.digest) {
        return Some("a rendering of another bundle digest (its subject)".into());
    }
    let config = &manifest.config;
    let read = store.read_small_blob(pin.bundle, &config.digest, config.size, 1 << 20);
    let config: baton_bundle::rendered::RenderedConfig =
        match read.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(config)) => config,
            Ok(Err(e)) => return Some(format!("its config does not parse: {e}")),
            Err(e) => return Some(format!("its config cannot be read: {}", error_chain(&e))),
        };
    if &config.environment != env {
        return Some(format!("the rendering for `{}`", config.environment));
    }
    if &config.bundle.digest != pin.digest {
        return Some(format!("a rendering of {}", config.bundle.digest.short()));
    }
    if &config.params_digest != pin.params_digest {
        return Some(format!("rendered with params {}", config.params_digest.short()));
    }
    None
}
