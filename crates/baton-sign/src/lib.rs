//! Evidence keys and signatures that tools nobody on the team wrote can verify.
//!
//! - [`SigningKey`] and [`PublicKey`]: ECDSA P-256 with SHA-256, the scheme cosign requires and
//!   securesystemslib calls `ecdsa-sha2-nistp256` (signatures ASN.1 DER), and Ed25519 (raw
//!   64-byte signatures), for promoters' SSH keys. P-256 private keys are read from unencrypted
//!   PEM (PKCS#8 or SEC1), public keys of both kinds from PEM `SubjectPublicKeyInfo`.
//! - [`KeyId`]: the lowercase hex SHA-256 of the public key's DER `SubjectPublicKeyInfo`, so anyone
//!   can compute it: `openssl pkey -pubin -in key.pub -outform DER | sha256sum`.
//! - [`dsse`]: DSSE envelopes (the pre-authentication encoding, sign, verify), as in-toto
//!   attestations are carried.
//! - [`cosign`]: cosign's simple-signing payload for a manifest digest, and its signature, as
//!   `cosign verify --key` checks it.
//!
//! No private key material leaves a [`SigningKey`]: it has no accessor, and its `Debug` shows the
//! key id only.

use std::path::{Path, PathBuf};

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use sha2::Digest as _;

pub mod cosign;
pub mod dsse;

/// The largest key file baton reads: a PEM key is a few hundred bytes.
const KEY_FILE_LIMIT: u64 = 64 * 1024;

/// Why a key or a signature could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file could not be read.
    #[error("cannot read key `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds an encrypted key.
    #[error(
        "key `{}` is encrypted: baton signs unattended and reads unencrypted PEM P-256 keys \
         (make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out build.key`, \
         its public half with `openssl pkey -in build.key -pubout -out build.pub`)",
        path.display()
    )]
    Encrypted {
        /// The file.
        path: PathBuf,
    },
    /// The key file is not a key baton can use.
    #[error(
        "key `{}` is not a PEM {what} ECDSA P-256 key: {reason} \
         (make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out build.key`, \
         its public half with `openssl pkey -in build.key -pubout -out build.pub`)",
        path.display()
    )]
    Malformed {
        /// The file, or what the key was read from.
        path: PathBuf,
        /// `private` or `public`.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A signature does not verify with the key.
    #[error("the signature does not verify with key {keyid}")]
    BadSignature {
        /// The key tried.
        keyid: KeyId,
    },
    /// A signature or payload is not well-formed.
    #[error("{0}")]
    Format(String),
}

/// The id of a public key: lowercase hex SHA-256 of its DER `SubjectPublicKeyInfo`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The algorithm of a key: ECDSA P-256 with SHA-256 (build keys, as cosign requires), or
/// Ed25519 (a promoter's SSH key, as most are).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verifying {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

enum Private {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A private key that signs evidence: ECDSA P-256 (from PEM, or an SSH key's scalar) or Ed25519
/// (an SSH key's seed).
pub struct SigningKey {
    key: Private,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("keyid", &self.public.keyid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an unencrypted PEM private key: PKCS#8 (`PRIVATE KEY`, as `openssl genpkey` writes)
    /// or SEC1 (`EC PRIVATE KEY`, as `openssl ecparam -genkey` writes).
    pub fn from_pem_file(path: &Path) -> Result<SigningKey, SignError> {
        let bytes = baton_fs::read_limited(path, KEY_FILE_LIMIT)
            .map_err(|source| SignError::Read { path: path.to_owned(), source })?;
        let malformed = |reason: String| SignError::Malformed {
            path: path.to_owned(),
            what: "private",
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| malformed("it is not text".into()))?;
        if text.contains("ENCRYPTED") {
            return Err(SignError::Encrypted { path: path.to_owned() });
        }
        let key = if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            p256::SecretKey::from_sec1_pem(text)
                .map(p256::ecdsa::SigningKey::from)
                .map_err(|e| malformed(e.to_string()))?
        } else if text.contains("-----BEGIN PRIVATE KEY-----") {
            p256::ecdsa::SigningKey::from_pkcs8_pem(text).map_err(|e| malformed(e.to_string()))?
        } else {
            return Err(malformed("no `PRIVATE KEY` or `EC PRIVATE KEY` PEM block".into()));
        };
        Ok(SigningKey::p256(key))
    }

    fn p256(key: p256::ecdsa::SigningKey) -> SigningKey {
        let public = PublicKey::new(Verifying::P256(*key.verifying_key()));
        SigningKey { key: Private::P256(key), public }
    }

    /// An Ed25519 key from its 32-byte seed (the private half of an SSH `ssh-ed25519` key).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> SigningKey {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey::new(Verifying::Ed25519(key.verifying_key()));
        SigningKey { key: Private::Ed25519(key), public }
    }

    /// An ECDSA P-256 key from its big-endian scalar (the private half of an SSH
    /// `ecdsa-sha2-nistp256` key).
    pub fn p256_from_scalar(scalar: &[u8]) -> Result<SigningKey, SignError> {
        p256::ecdsa::SigningKey::from_slice(scalar)
            .map(SigningKey::p256)
            .map_err(|e| SignError::Format(format!("not a P-256 private scalar: {e}")))
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key's id.
    pub fn keyid(&self) -> &KeyId {
        &self.public.keyid
    }

    /// A signature over `message`: ECDSA P-256 over SHA-256 as ASN.1 DER (deterministic,
    /// RFC 6979), or a raw 64-byte Ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Private::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Private::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

/// A public key that verifies evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: Verifying,
    keyid: KeyId,
}

impl PublicKey {
    fn new(key: Verifying) -> PublicKey {
        let der = match &key {
            Verifying::P256(key) => key.to_public_key_der(),
            Verifying::Ed25519(key) => key.to_public_key_der(),
        }
        .expect("holds because a P-256 point or an Ed25519 key encodes as SPKI");
        let keyid = KeyId(hex::encode(sha2::Sha256::digest(der.as_bytes())));
        PublicKey { key, keyid }
    }

    /// An Ed25519 public key from its 32 bytes (an SSH `ssh-ed25519` key's).
    pub fn ed25519_from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, String> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(|k| PublicKey::new(Verifying::Ed25519(k)))
            .map_err(|e| e.to_string())
    }

    /// An ECDSA P-256 public key from its SEC1 point (an SSH `ecdsa-sha2-nistp256` key's).
    pub fn p256_from_sec1(point: &[u8]) -> Result<PublicKey, String> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(|k| PublicKey::new(Verifying::P256(k)))
            .map_err(|e| e.to_string())
    }

    /// Reads a PEM `PUBLIC KEY` (`SubjectPublicKeyInfo`), as `openssl pkey -pubout` and
    /// `cosign generate-key-pair` write it.
    pub fn from_pem_file(path: &Path) -> Result<PublicKey, SignError> {
        let bytes = baton_fs::read_limited(path, KEY_FILE_LIMIT)
            .map_err(|source| SignError::Read { path: path.to_owned(), source })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| SignError::Malformed {
            path: path.to_owned(),
            what: "public",
            reason: "it is not text".into(),
        })?;
        PublicKey::from_pem(text).map_err(|reason| SignError::Malformed {
            path: path.to_owned(),
            what: "public",
            reason,
        })
    }

    /// Parses a PEM `PUBLIC KEY` of a P-256 or an Ed25519 key; the error says what was wrong.
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let text = text.trim();
        match p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            Ok(key) => Ok(PublicKey::new(Verifying::P256(key))),
            Err(p256_error) => ed25519_dalek::VerifyingKey::from_public_key_pem(text)
                .map(|key| PublicKey::new(Verifying::Ed25519(key)))
                .map_err(|_| p256_error.to_string()),
        }
    }

    /// The key as PEM `PUBLIC KEY`.
    pub fn to_pem(&self) -> String {
        let line = p256::pkcs8::LineEnding::LF;
        match &self.key {
            Verifying::P256(key) => key.to_public_key_pem(line),
            Verifying::Ed25519(key) => key.to_public_key_pem(line),
        }
        .expect("holds because a P-256 point or an Ed25519 key encodes as SPKI")
    }

    /// The key's id.
    pub fn keyid(&self) -> &KeyId {
        &self.keyid
    }

    /// The signature scheme, as securesystemslib names it: `ecdsa-sha2-nistp256` or `ed25519`.
    pub fn scheme(&self) -> &'static str {
        match self.key {
            Verifying::P256(_) => "ecdsa-sha2-nistp256",
            Verifying::Ed25519(_) => "ed25519",
        }
    }

    /// Checks a signature over `message` (DER for P-256, 64 raw bytes for Ed25519).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
        let bad = || SignError::BadSignature { keyid: self.keyid.clone() };
        match &self.key {
            Verifying::P256(key) => {
                let signature = p256::ecdsa::Signature::from_der(signature).map_err(|_| {
                    SignError::Format("the signature is not an ASN.1 DER ECDSA signature".into())
                })?;
                key.verify(message, &signature).map_err(|_| bad())
            }
            Verifying::Ed25519(key) => {
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    SignError::Format("the signature is not 64 bytes of Ed25519".into())
                })?;
                key.verify(message, &signature).map_err(|_| bad())
            }
        }
    }
}

#[cfg(test)]
mod tests;
