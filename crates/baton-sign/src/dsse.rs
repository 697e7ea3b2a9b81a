//! DSSE envelopes: a payload, its type, and signatures over the pre-authentication encoding
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body` (lengths as ASCII decimal byte counts).
//! Payload and signatures are standard base64 with padding, as securesystemslib and in-toto read
//! them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::{KeyId, PublicKey, SignError, SigningKey};

/// The payload type of an in-toto Statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, base64.
    pub payload: String,
    /// What the payload is.
    pub payload_type: String,
    /// Signatures over the pre-authentication encoding.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signing key's id ([`KeyId`]); never empty in what baton writes.
    #[serde(default)]
    pub keyid: String,
    /// The signature, base64 of ASN.1 DER.
    pub sig: String,
}

/// The pre-authentication encoding of `payload_type` and `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out =
        format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// `payload` of type `payload_type`, signed by `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
        let signature = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: key.keyid().to_string(),
                sig: STANDARD.encode(signature),
            }],
        }
    }

    /// `payload` of type `payload_type` with no signature (where nothing requires one).
    pub fn unsigned(payload_type: &str, payload: &[u8]) -> Envelope {
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: Vec::new(),
        }
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, SignError> {
        STANDARD
            .decode(&self.payload)
            .map_err(|e| SignError::Format(format!("the envelope's payload is not base64: {e}")))
    }

    /// The keys among `keys` whose signature on this envelope verifies, in the order of the
    /// envelope's signatures. A signature whose keyid names none of `keys` is tried against each,
    /// so an envelope signed with an empty keyid (as cosign writes) is still recognised.
    pub fn verified_by<'k>(&self, keys: &'k [PublicKey]) -> Result<Vec<&'k KeyId>, SignError> {
        let message = pae(&self.payload_type, &self.payload_bytes()?);
        let mut found = Vec::new();
        for signature in &self.signatures {
            let Ok(bytes) = STANDARD.decode(&signature.sig) else { continue };
            let named: Vec<&PublicKey> =
                keys.iter().filter(|k| k.keyid().as_str() == signature.keyid).collect();
            let candidates: Vec<&PublicKey> =
                if named.is_empty() { keys.iter().collect() } else { named };
            for key in candidates {
                if key.verify(&message, &bytes).is_ok() && !found.contains(&key.keyid()) {
                    found.push(key.keyid());
                }
            }
        }
        Ok(found)
    }

    /// The envelope as one line of JSON (an `.intoto.jsonl` line).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("holds because an envelope serialises to JSON")
    }
}
