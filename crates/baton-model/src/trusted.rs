//! `.baton/trusted_keys.toml`: the public keys whose bundle signatures the `signed_by` gate
//! accepts, each under the name `baton.toml` uses for it.
//!
//! ```toml
//! [key.build]
//! public_key = """
//! -----BEGIN PUBLIC KEY-----
//! MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…
//! -----END PUBLIC KEY-----
//! """
//! retired = "2027-01-01T00:00:00Z"   # its signatures count for promotions before this instant only
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = ".baton/trusted_keys.toml",
    description = "The public keys whose bundle signatures the `signed_by` gate accepts, by name."
)]
pub struct TrustedKeysFile {
    /// The keys, by the name `gates.signed_by` uses (lowercase letters, digits, `-`, `_`, `.`).
    #[serde(default)]
    pub key: BTreeMap<String, TrustedKey>,
}

/// One trusted key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The public key, PEM `PUBLIC KEY` (ECDSA P-256, as `cosign generate-key-pair` and
    /// `openssl pkey -pubout` write it).
    pub public_key: String,
    /// From this instant on its signatures no longer count (RFC 3339 in quotes,
    /// `"2027-01-01T00:00:00Z"`); promotions made before it stay valid in the audit, which
    /// judges each at its own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<jiff::Timestamp>,
    /// Who holds the key, or anything else worth saying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl TrustedKeysFile {
    /// Parses the file's text; a key name that is not a plain word is an error naming it.
    pub fn from_toml(text: &str) -> Result<TrustedKeysFile, String> {
        let file: TrustedKeysFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for name in file.key.keys() {
            let plain = name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
            if name.is_empty() || !plain {
                return Err(format!(
                    "key name `{name}` must be lowercase letters, digits, `-`, `_` or `.`"
                ));
            }
        }
        Ok(file)
    }
}
