//! Bundle signatures in cosign's tag-based format: `sign` attaches one under
//! `sha256-<hex>.sig` in the bundle's repository, beside those there; `check_signatures` reads
//! them back and checks each against the keys given, as `cosign verify --key` would.

use baton_model::{BundleName, Digest};
use baton_sign::{SigningKey, cosign};
use baton_store::evidence::check_signatures;
use baton_store::{Store, StoreError, attached};
use serde::{Deserialize, Serialize};

/// What `baton sign` did (`--output json`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignReport {
    /// `STORE/NAME@DIGEST`.
    pub reference: String,
    /// The manifest digest signed.
    pub digest: Digest,
    /// The signing key's id: hex SHA-256 of its DER public key.
    pub keyid: String,
    /// The tag holding the signatures, `sha256-<hex>.sig`.
    pub tag: String,
    /// False when this key's signature of this digest was there already.
    pub added: bool,
}

/// Signs `digest` of `name` in `store` with `key`, beside the signatures already there.
pub fn sign(
    store: &Store,
    name: &BundleName,
    digest: &Digest,
    key: &SigningKey,
) -> Result<SignReport, StoreError> {
    let repository = format!("{}/{name}", store.label());
    let signed = cosign::sign(&repository, digest, key);
    let layer = attached::AttachedLayer {
        media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
        annotations: [(cosign::SIGNATURE_ANNOTATION.to_owned(), signed.signature)].into(),
        bytes: signed.payload,
    };
    // The payload names the store the bundle was signed in; a copy carries it unchanged, so a
    // signature already there for this key and digest (from any store) counts as this one.
    let present = check_signatures(store, name, digest, std::slice::from_ref(key.public()))?;
    let added = if present.iter().any(|c| c.keyid.is_some()) {
        false
    } else {
        attached::attach(store, name, digest, attached::SIGNATURES, &[layer])? > 0
    };
    Ok(SignReport {
        reference: format!("{}/{name}@{digest}", store.label()),
        digest: digest.clone(),
        keyid: key.keyid().to_string(),
        tag: cosign::signature_tag(digest),
        added,
    })
}
