//! `.baton/trusted_keys.toml` read and checked: the keys whose bundle signatures a `signed_by`
//! gate counts, by name, each with the instant it was retired, if it was.

use baton_model::{TrustedKeysFile, layout::TRUSTED_KEYS};
use baton_sign::PublicKey;
use baton_state::ObjectId;
use jiff::Timestamp;

use crate::{View, ViewError};

/// One trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    /// Its name, as `gates.signed_by` says it.
    pub name: String,
    /// The key.
    pub key: PublicKey,
    /// From when its signatures no longer count.
    pub retired: Option<Timestamp>,
}

impl TrustedKey {
    /// True when its signatures count for a promotion at `at`.
    pub fn valid_at(&self, at: Timestamp) -> bool {
        self.retired.is_none_or(|retired| at < retired)
    }
}

/// The trusted keys of a state repository at one commit (none when it has no such file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// Parses the file's text; the error names the key and what to do.
    pub fn parse(text: &str) -> Result<TrustedKeys, String> {
        let file = TrustedKeysFile::from_toml(text)?;
        let mut keys = Vec::new();
        for (name, entry) in file.key {
            let key = PublicKey::from_pem(&entry.public_key).map_err(|e| {
                format!(
                    "key `{name}`: `public_key` is not a PEM P-256 or Ed25519 public key ({e}); paste the output of `openssl pkey -in build.key -pubout`"
                )
            })?;
            if let Some(other) = keys.iter().find(|k: &&TrustedKey| k.key == key) {
                return Err(format!(
                    "key `{name}` is the same key as `{}`: list each key once",
                    other.name
                ));
            }
            keys.push(TrustedKey { name, key, retired: entry.retired });
        }
        Ok(TrustedKeys { keys })
    }

    /// Every key.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The key named `name`.
    pub fn named(&self, name: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The key whose id is `keyid`.
    pub fn by_keyid(&self, keyid: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key.keyid().as_str() == keyid)
    }

    /// The public keys named in `names` (unknown names are skipped).
    pub fn public_keys(&self, names: &[String]) -> Vec<PublicKey> {
        names.iter().filter_map(|n| self.named(n)).map(|k| k.key.clone()).collect()
    }
}

impl View {
    /// `.baton/trusted_keys.toml` at `tree`: empty when there is none, `Err` (the words of a
    /// finding) when it does not parse.
    pub fn trusted_keys_in(
        &self,
        tree: ObjectId,
    ) -> Result<Result<TrustedKeys, String>, ViewError> {
        let Some(id) = self.repo.blob_id_in(tree, TRUSTED_KEYS)? else {
            return Ok(Ok(TrustedKeys::default()));
        };
        let Ok(text) = String::from_utf8(self.repo.blob(id)?) else {
            return Ok(Err(format!("`{TRUSTED_KEYS}` is not UTF-8")));
        };
        Ok(TrustedKeys::parse(&text).map_err(|e| format!("`{TRUSTED_KEYS}`: {e}")))
    }
}
