//! `baton evidence`: every signature and attestation attached to a bundle, each with who signed
//! it and whether it verifies with the keys given, read from the store alone.

use baton_model::{BundleName, Digest};
use baton_sign::PublicKey;
use baton_store::evidence::{
    CREATED_ANNOTATION, ENVELOPE_LIMIT, PREDICATE_TYPE_ANNOTATION, SignatureCheck,
    check_signatures, parse_attestation,
};
use baton_store::{Store, StoreError, referrers};
use serde::{Deserialize, Serialize};

/// `baton evidence --output json`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceReport {
    /// `STORE/NAME@DIGEST`.
    pub reference: String,
    /// The bundle's manifest digest.
    pub digest: Digest,
    /// Its signatures (cosign's `sha256-<hex>.sig`), each checked against the keys given.
    pub signatures: Vec<SignatureCheck>,
    /// Its attestations (OCI referrers), each read and checked.
    pub attestations: Vec<AttestationCheck>,
}

/// One attestation attached to a bundle, read and checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttestationCheck {
    /// The digest of the attestation's manifest.
    pub digest: Digest,
    /// Its `artifactType`.
    pub artifact_type: Option<String>,
    /// The in-toto predicate type.
    pub predicate_type: Option<String>,
    /// When it was made (`org.opencontainers.image.created`).
    pub created: Option<String>,
    /// The key ids its DSSE signatures declare.
    pub keyids: Vec<String>,
    /// The key ids among those given whose signature verifies.
    pub verified_by: Vec<String>,
    /// Why it does not count, when it does not: it does not parse, or names another subject.
    pub problem: Option<String>,
}

/// The evidence attached to `digest` of `name` in `store`, checked against `keys` (none: listed
/// and checked for form only).
pub fn evidence(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<EvidenceReport, StoreError> {
    let signatures = check_signatures(store, name, digest, keys)?;
    let entries = referrers::list_referrers(store, name, digest)?;
    let read = referrers::read_artifacts(store, name, &entries, ENVELOPE_LIMIT);
    let attestations = entries
        .iter()
        .zip(read)
        .map(|(entry, read)| {
            let (manifest, layers) = read?;
            let mut check = AttestationCheck {
                digest: entry.digest.clone(),
                artifact_type: manifest.artifact_type.clone(),
                predicate_type: manifest.annotations.get(PREDICATE_TYPE_ANNOTATION).cloned(),
                created: manifest.annotations.get(CREATED_ANNOTATION).cloned(),
                keyids: Vec::new(),
                verified_by: Vec::new(),
                problem: None,
            };
            check.problem = check_attestation(&mut check, manifest, &layers, digest, keys).err();
            Ok(check)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(EvidenceReport {
        reference: format!("{}/{name}@{digest}", store.label()),
        digest: digest.clone(),
        signatures,
        attestations,
    })
}

/// Fills in what the attestation says; `Err` is why it does not count.
fn check_attestation(
    check: &mut AttestationCheck,
    manifest: baton_model::oci::Manifest,
    layers: &[baton_store::attached::AttachedLayer],
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<(), String> {
    let attestation = parse_attestation(manifest, layers)?;
    check.keyids = attestation.envelope.signatures.iter().map(|s| s.keyid.clone()).collect();
    check.verified_by = attestation.verified_by(keys);
    if let Some(kind) = attestation.predicate_type() {
        check.predicate_type = Some(kind.to_owned());
    }
    if !attestation.is_about(digest) {
        return Err(format!(
            "it is not about {digest}: its manifest's or its statement's subject is another"
        ));
    }
    if !keys.is_empty() && check.verified_by.is_empty() {
        return Err("not signed by any key given".into());
    }
    Ok(())
}
