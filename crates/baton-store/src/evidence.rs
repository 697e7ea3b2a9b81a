//! The evidence kept beside a bundle, read and checked the same way by everyone who relies on
//! it (`baton verify`, `baton evidence`, the `signed_by` gate, the applier and the auditor):
//!
//! - signatures in cosign's tag-based format (`sha256-<hex>.sig`), checked as
//!   `cosign verify --key` checks them: [`check_signatures`];
//! - attestations, in-toto Statements in DSSE envelopes stored as OCI referrers of the bundle
//!   (`artifactType` [`ATTESTATION_ARTIFACT_TYPE`], one layer [`DSSE_MEDIA_TYPE`]):
//!   [`attach_attestation`] and [`read_attestation`].

use std::collections::BTreeMap;

use baton_model::{BundleName, Digest, oci};
use baton_sign::{PublicKey, SigningKey, cosign, dsse};
use serde::{Deserialize, Serialize};

use crate::{
    Store, StoreError,
    attached::{self, AttachedLayer},
    referrers,
};

/// The `artifactType` of every attestation baton attaches: cosign skips it (it is not a
/// Sigstore bundle), oras lists it.
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.baton.attestation.v1+json";
/// The media type of an attestation's one layer: a DSSE envelope.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The annotation naming an attestation's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "in-toto.io/predicate-type";
/// The annotation saying when an artifact was made.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
/// The largest attestation envelope baton reads.
pub const ENVELOPE_LIMIT: u64 = 4 * 1024 * 1024;

/// The problem of a well-formed signature that none of the keys given verifies.
pub const NO_KEY_VERIFIES: &str = "not signed by any key given";

/// One signature attached to a bundle, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignatureCheck {
    /// The id of the key it verifies with, among those given; absent when none.
    pub keyid: Option<String>,
    /// Why it does not count, when it does not.
    pub problem: Option<String>,
}

/// Every signature attached to `digest` of `name`, each checked against `keys`: the signature
/// over the payload verifies with one of them and the payload names `digest`. With no keys, each
/// is checked for form only (no keyid, no problem).
pub fn check_signatures(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<Vec<SignatureCheck>, StoreError> {
    let layers = attached::read_attached(store, name, digest, attached::SIGNATURES)?;
    Ok(layers.into_iter().map(|layer| check_signature(layer, digest, keys)).collect())
}

fn check_signature(layer: AttachedLayer, digest: &Digest, keys: &[PublicKey]) -> SignatureCheck {
    let problem = |problem: String| SignatureCheck { keyid: None, problem: Some(problem) };
    if layer.media_type != cosign::SIMPLE_SIGNING_MEDIA_TYPE {
        return problem(format!("a layer of type `{}`, not a signature", layer.media_type));
    }
    let Some(signature) = layer.annotations.get(cosign::SIGNATURE_ANNOTATION) else {
        return problem(format!("no `{}` annotation", cosign::SIGNATURE_ANNOTATION));
    };
    if keys.is_empty() {
        return SignatureCheck { keyid: None, problem: None }; // listed, not checked
    }
    let signed = cosign::Signed { payload: layer.bytes, signature: signature.clone() };
    let mut why = NO_KEY_VERIFIES.to_owned();
    for key in keys {
        match cosign::verify(&signed, digest, key) {
            Ok(_) => return SignatureCheck { keyid: Some(key.keyid().to_string()), problem: None },
            Err(baton_sign::SignError::BadSignature { .. }) => {}
            Err(other) => why = other.to_string(),
        }
    }
    problem(why)
}

/// Attaches in-toto `statement` (of `predicate_type`, made at `created`) to `subject` of `name`
/// in `store`, in a DSSE envelope signed by `key` when given, with `extra` annotations beside
/// the predicate type and time (unsigned: a hint for readers, never evidence). Returns the
/// referrer's descriptor.
/// The subject need not be in the store yet (a registry does not check it; see
/// [`referrers::subject_of`] for the descriptor of one that is).
pub fn attach_attestation(
    store: &Store,
    name: &BundleName,
    subject: &oci::Descriptor,
    statement: &serde_json::Value,
    (predicate_type, created): (&str, jiff::Timestamp),
    extra: &[(&str, &str)],
    key: Option<&SigningKey>,
) -> Result<oci::Descriptor, StoreError> {
    let payload = serde_json::to_vec(statement).expect("holds because JSON serialises");
    let envelope = match key {
        Some(key) => dsse::Envelope::sign(dsse::IN_TOTO_PAYLOAD_TYPE, &payload, key),
        None => dsse::Envelope::unsigned(dsse::IN_TOTO_PAYLOAD_TYPE, &payload),
    };
    let layer = AttachedLayer {
        media_type: DSSE_MEDIA_TYPE.to_owned(),
        annotations: BTreeMap::new(),
        bytes: envelope.to_line().into_bytes(),
    };
    let mut annotations = BTreeMap::from([
        (PREDICATE_TYPE_ANNOTATION.to_owned(), predicate_type.to_owned()),
        (CREATED_ANNOTATION.to_owned(), created.to_string()),
    ]);
    annotations.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    referrers::attach_artifact(
        store,
        name,
        subject,
        ATTESTATION_ARTIFACT_TYPE,
        &[layer],
        &annotations,
    )
}

/// One attestation as read from a store.
#[derive(Clone, Debug)]
pub struct Attestation {
    /// The referrer's manifest.
    pub manifest: oci::Manifest,
    /// Its envelope.
    pub envelope: dsse::Envelope,
    /// The envelope's payload, parsed.
    pub statement: serde_json::Value,
}

impl Attestation {
    /// The statement's predicate type.
    pub fn predicate_type(&self) -> Option<&str> {
        self.statement["predicateType"].as_str()
    }

    /// True when the manifest's subject and one of the statement's subjects are `digest`.
    pub fn is_about(&self, digest: &Digest) -> bool {
        self.manifest.subject.as_ref().map(|s| &s.digest) == Some(digest)
            && self.statement["subject"].as_array().is_some_and(|subjects| {
                subjects.iter().any(|s| s["digest"]["sha256"].as_str() == Some(digest.hex()))
            })
    }

    /// The ids of the keys among `keys` whose signature verifies.
    pub fn verified_by(&self, keys: &[PublicKey]) -> Vec<String> {
        self.envelope
            .verified_by(keys)
            .map(|ids| ids.into_iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The envelope as one line of JSON, for an `.intoto.jsonl` export.
    pub fn to_line(&self) -> String {
        self.envelope.to_line()
    }
}

/// Reads attestation `digest` of `name`: the outer `Err` when the store cannot be read (the
/// manifest may be missing), the inner when what is there is not an attestation (saying why).
pub fn read_attestation(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
) -> Result<Result<Attestation, String>, StoreError> {
    let descriptor = oci::Descriptor::new(oci::MANIFEST_MEDIA_TYPE, digest.clone(), 0);
    match referrers::read_artifact(store, name, &descriptor, ENVELOPE_LIMIT) {
        Ok((manifest, layers)) => Ok(parse_attestation(manifest, &layers)),
        Err(StoreError::Malformed { source, .. }) => {
            Ok(Err(format!("its manifest does not parse: {source}")))
        }
        Err(other) => Err(other),
    }
}

/// What a referrer's manifest and layers say, when they are an attestation.
pub fn parse_attestation(
    manifest: oci::Manifest,
    layers: &[AttachedLayer],
) -> Result<Attestation, String> {
    let [layer] = layers else {
        return Err(format!("{} layers, not one DSSE envelope", layers.len()));
    };
    if layer.media_type != DSSE_MEDIA_TYPE {
        return Err(format!("a layer of type `{}`, not a DSSE envelope", layer.media_type));
    }
    let envelope: dsse::Envelope = serde_json::from_slice(&layer.bytes)
        .map_err(|e| format!("the DSSE envelope does not parse: {e}"))?;
    let payload = envelope.payload_bytes().map_err(|e| e.to_string())?;
    let statement: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|e| format!("the statement does not parse: {e}"))?;
    Ok(Attestation { manifest, envelope, statement })
}
