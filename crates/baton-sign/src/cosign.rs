//! cosign's tag-based signature of an image manifest: the simple-signing payload naming the
//! manifest digest, and an ECDSA P-256 signature over the payload's exact bytes, as
//! `cosign verify --key key.pub --insecure-ignore-tlog` and Flux's `spec.verify` check it.
//! The payload goes into a layer of media type [`SIMPLE_SIGNING_MEDIA_TYPE`], the base64
//! signature into that layer's [`SIGNATURE_ANNOTATION`], under the tag [`signature_tag`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use baton_model::Digest;
use serde::{Deserialize, Serialize};

use crate::{PublicKey, SignError, SigningKey};

/// The media type of a signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation that holds the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` of an image signature.
const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag that holds the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// The simple-signing payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What the signature is about.
    pub critical: Critical,
    /// Free annotations; baton writes none.
    #[serde(default)]
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The part of the payload a verifier checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository signed.
    pub identity: Identity,
    /// The manifest signed.
    pub image: Image,
    /// Always `cosign container image signature`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The repository, `HOST/PATH` (informational: cosign does not require it to match).
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The manifest digest, `sha256:<hex>`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// A signature as it is stored: the payload's exact bytes and the base64 signature over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The payload bytes (the layer blob).
    pub payload: Vec<u8>,
    /// Base64 of the DER signature (the layer annotation).
    pub signature: String,
}

/// Signs manifest `digest` of repository `repository` with `key`.
pub fn sign(repository: &str, digest: &Digest, key: &SigningKey) -> Signed {
    let payload = Payload {
        critical: Critical {
            identity: Identity { docker_reference: repository.to_owned() },
            image: Image { docker_manifest_digest: digest.to_string() },
            kind: SIGNATURE_TYPE.to_owned(),
        },
        optional: None,
    };
    let payload = serde_json::to_vec(&payload).expect("holds because a payload serialises");
    let signature = STANDARD.encode(key.sign(&payload));
    Signed { payload, signature }
}

/// Checks a stored signature as cosign does: the signature over the payload bytes verifies with
/// `key`, and the payload names `digest` (an image signature, not another type).
pub fn verify(signed: &Signed, digest: &Digest, key: &PublicKey) -> Result<Payload, SignError> {
    let signature = STANDARD
        .decode(signed.signature.trim())
        .map_err(|e| SignError::Format(format!("the signature annotation is not base64: {e}")))?;
    key.verify(&signed.payload, &signature)?;
    let payload: Payload = serde_json::from_slice(&signed.payload).map_err(|e| {
        SignError::Format(format!("the simple-signing payload does not parse: {e}"))
    })?;
    if payload.critical.kind != SIGNATURE_TYPE {
        return Err(SignError::Format(format!(
            "the payload's type is `{}`, not `{SIGNATURE_TYPE}`",
            payload.critical.kind
        )));
    }
    if payload.critical.image.docker_manifest_digest != digest.to_string() {
        return Err(SignError::Format(format!(
            "the signature is over {}, not {digest}",
            payload.critical.image.docker_manifest_digest
        )));
    }
    Ok(payload)
}
