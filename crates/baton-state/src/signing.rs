//! SSH signatures of commits in git's own format (`gpgsig` header holding an armored sshsig with
//! namespace `git`), so that `git verify-commit` with `gpg.format=ssh` accepts them, and the
//! allowed-signers file (`.baton/allowed_signers`, git's format) that says which key may sign
//! for which principal.

use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// The namespace git signs commits in.
const NAMESPACE: &str = "git";

/// A private key that signs commits.
pub struct SigningKey {
    key: PrivateKey,
}

/// Why a key cannot sign, or a signers file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The key file cannot be read or parsed.
    #[error("cannot use signing key `{}`", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why: it cannot be read, or it is not an OpenSSH private key.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The key file holds a key encrypted with a passphrase.
    #[error(
        "signing key `{}` is encrypted with a passphrase: baton signs unattended, give it a key without one (for example a CI deploy key)",
        path.display()
    )]
    Encrypted {
        /// The file.
        path: PathBuf,
    },
    /// A line of the allowed-signers file does not parse.
    #[error(".baton/allowed_signers line {line}: {message}")]
    Signers {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl SigningKey {
    /// Loads an OpenSSH private key; a path to a `.pub` file means the private key beside it.
    pub fn load(path: &Path) -> Result<SigningKey, SigningError> {
        let private = match path.extension() {
            Some(ext) if ext == "pub" => path.with_extension(""),
            _ => path.to_owned(),
        };
        let err = |source: Box<dyn std::error::Error + Send + Sync>| SigningError::Key {
            path: private.clone(),
            source,
        };
        let text = fs_err::read_to_string(&private).map_err(|e| err(e.into()))?;
        // A key pasted into a CI secret store comes back with blank lines around it, or with
        // Windows line ends; the PEM reader takes neither, and neither changes the key.
        let text = text.trim().replace("\r\n", "\n");
        let key = PrivateKey::from_openssh(text).map_err(|e| err(e.into()))?;
        if key.is_encrypted() {
            return Err(SigningError::Encrypted { path: private });
        }
        Ok(SigningKey { key })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// `SHA256:…`, as ssh-keygen prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The same key as an evidence key, which signs a promotion's attestation: `ssh-ed25519` and
    /// `ecdsa-sha2-nistp256` keys have one; other types (RSA) do not.
    pub fn evidence_key(&self) -> Option<baton_sign::SigningKey> {
        match self.key.key_data() {
            ssh_key::private::KeypairData::Ed25519(pair) => {
                Some(baton_sign::SigningKey::ed25519_from_seed(&pair.private.to_bytes()))
            }
            ssh_key::private::KeypairData::Ecdsa(ssh_key::private::EcdsaKeypair::NistP256 {
                private,
                ..
            }) => baton_sign::SigningKey::p256_from_scalar(private.as_slice()).ok(),
            _ => None,
        }
    }

    /// The key's type, as ssh names it (`ssh-ed25519`, `ssh-rsa`, …).
    pub fn kind(&self) -> String {
        self.key.algorithm().to_string()
    }

    /// Signs the bytes of a commit object; returns the armored signature for `gpgsig`.
    pub fn sign(&self, payload: &[u8]) -> Result<String, String> {
        let signature =
            self.key.sign(NAMESPACE, HashAlg::Sha512, payload).map_err(|e| e.to_string())?;
        signature.to_pem(LineEnding::LF).map_err(|e| e.to_string())
    }
}

/// An SSH public key as an evidence key, which verifies a promotion's attestation: `ssh-ed25519`
/// and `ecdsa-sha2-nistp256` keys have one (its keyid is the SHA-256 of the same key's DER
/// `SubjectPublicKeyInfo`); other types do not.
pub fn evidence_public(key: &PublicKey) -> Option<baton_sign::PublicKey> {
    match key.key_data() {
        ssh_key::public::KeyData::Ed25519(key) => {
            baton_sign::PublicKey::ed25519_from_bytes(&key.0).ok()
        }
        ssh_key::public::KeyData::Ecdsa(point @ ssh_key::public::EcdsaPublicKey::NistP256(_)) => {
            baton_sign::PublicKey::p256_from_sec1(point.as_sec1_bytes()).ok()
        }
        _ => None,
    }
}

/// One line of an allowed-signers file.
#[derive(Clone, Debug)]
struct Signer {
    principals: Vec<String>,
    key: PublicKey,
    /// `valid-after`, seconds since the epoch: the key signs for these principals from then on.
    valid_after: Option<i64>,
    /// `valid-before`: and until then.
    valid_before: Option<i64>,
}

impl Signer {
    fn valid_at(&self, at: i64) -> bool {
        self.valid_after.is_none_or(|after| at >= after)
            && self.valid_before.is_none_or(|before| at < before)
    }
}

/// The value of option `name="…"` among a line's options, if present.
fn option<'a>(options: &'a str, name: &str) -> Option<&'a str> {
    let start = options.find(&format!("{name}=\""))? + name.len() + 2;
    let value = &options[start..];
    Some(&value[..value.find('"').unwrap_or(value.len())])
}

/// An allowed-signers time (`YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`) in seconds since the epoch.
/// ssh reads a value without `Z` in the machine's zone; baton reads every value as UTC, so a
/// verdict never depends on where it is computed (write the `Z` to mean the same to both).
fn signers_time(value: &str) -> Option<i64> {
    let digits = value.strip_suffix('Z').unwrap_or(value);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return None;
    }
    let two = |at: usize| digits.get(at..at + 2).map_or(Some(0), |d| d.parse::<i8>().ok());
    let year = digits[..4].parse::<i16>().ok()?;
    let date = jiff::civil::Date::new(year, two(4)?, two(6)?).ok()?;
    let time = jiff::civil::Time::new(two(8)?, two(10)?, two(12)?, 0).ok()?;
    let zoned = date.to_datetime(time).to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_second())
}

/// Which keys may sign for which principals (git's allowed-signers format:
/// `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`, principals comma-separated, `*` globs).
#[derive(Clone, Debug, Default)]
pub struct AllowedSigners {
    signers: Vec<Signer>,
}

/// What a signature check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Valid, by a listed key; the principals it is listed for.
    Good {
        /// The principals the key is listed for.
        principals: Vec<String>,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Valid, but by a key the file does not list.
    UnknownKey {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Not a valid signature of these bytes.
    Bad {
        /// Why.
        reason: String,
    },
    /// No signature at all.
    Unsigned,
}

impl AllowedSigners {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<AllowedSigners, SigningError> {
        let mut signers = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: &str| SigningError::Signers {
                line: index + 1,
                message: message.to_owned(),
            };
            let mut fields = line.split_whitespace();
            let principals: Vec<String> = fields
                .next()
                .ok_or_else(|| err("no principals"))?
                .trim_matches('"')
                .split(',')
                .map(str::to_owned)
                .collect();
            let rest: Vec<&str> = fields.collect();
            // Options come before the key type; the key is the first field that looks like one.
            let at = rest
                .iter()
                .position(|f| {
                    f.starts_with("ssh-") || f.starts_with("ecdsa-") || f.starts_with("sk-")
                })
                .ok_or_else(|| err("no key (expected `PRINCIPALS [OPTIONS] KEYTYPE BASE64`)"))?;
            let options = rest[..at].join(" ");
            if options.contains("cert-authority") {
                return Err(err(
                    "`cert-authority` entries are not supported by baton: list the keys themselves",
                ));
            }
            // `namespaces="git,file"`: a key restricted to other namespaces cannot sign commits.
            if option(&options, "namespaces").is_some_and(|n| !n.split(',').any(|n| n == NAMESPACE))
            {
                continue;
            }
            let time = |name: &str| -> Result<Option<i64>, SigningError> {
                option(&options, name)
                    .map(|v| {
                        signers_time(v).ok_or_else(|| {
                            err(&format!(
                                "{name}=\"{v}\" is not YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]"
                            ))
                        })
                    })
                    .transpose()
            };
            let (valid_after, valid_before) = (time("valid-after")?, time("valid-before")?);
            let key_text = rest[at..].iter().take(2).copied().collect::<Vec<_>>().join(" ");
            let key = PublicKey::from_openssh(&key_text).map_err(|e| err(&e.to_string()))?;
            signers.push(Signer { principals, key, valid_after, valid_before });
        }
        Ok(AllowedSigners { signers })
    }

    /// The principals `key` is listed for at `at` (seconds since the epoch): lines whose
    /// `valid-after`/`valid-before` exclude that instant do not count.
    pub fn principals_for(&self, key: &PublicKey, at: i64) -> Vec<String> {
        self.signers
            .iter()
            .filter(|s| s.key.key_data() == key.key_data() && s.valid_at(at))
            .flat_map(|s| s.principals.iter().cloned())
            .collect()
    }

    /// The evidence keys ([`evidence_public`]) of the lines that list `principal` at `at`.
    pub fn evidence_keys_for(&self, principal: &str, at: i64) -> Vec<baton_sign::PublicKey> {
        self.signers
            .iter()
            .filter(|s| {
                s.valid_at(at) && s.principals.iter().any(|p| principal_matches(p, principal))
            })
            .filter_map(|s| evidence_public(&s.key))
            .collect()
    }

    /// True when `key` is listed for `principal` at `at` (patterns with `*` and `?` match as
    /// in ssh).
    pub fn allows(&self, principal: &str, key: &PublicKey, at: i64) -> bool {
        self.principals_for(key, at).iter().any(|pattern| principal_matches(pattern, principal))
    }

    /// Checks an armored signature over `payload` made at `at` (the commit's time, as
    /// `git verify-commit` passes it): a key is listed only where its line is valid then.
    pub fn check(&self, armored: Option<&str>, payload: &[u8], at: i64) -> SignatureCheck {
        let Some(armored) = armored else { return SignatureCheck::Unsigned };
        let signature = match SshSig::from_pem(armored.trim()) {
            Ok(s) => s,
            Err(e) => return SignatureCheck::Bad { reason: format!("not an SSH signature: {e}") },
        };
        let key = PublicKey::from(signature.public_key().clone());
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        if let Err(e) = key.verify(NAMESPACE, payload, &signature) {
            return SignatureCheck::Bad { reason: format!("the signature does not match: {e}") };
        }
        let principals = self.principals_for(&key, at);
        if principals.is_empty() {
            if self.signers.iter().any(|s| s.key.key_data() == key.key_data()) {
                let when =
                    jiff::Timestamp::from_second(at).map_or(at.to_string(), |t| t.to_string());
                return SignatureCheck::Bad {
                    reason: format!(
                        "key {fingerprint} is listed only for times (valid-after/valid-before) that exclude the commit's time {when}"
                    ),
                };
            }
            SignatureCheck::UnknownKey { fingerprint }
        } else {
            SignatureCheck::Good { principals, fingerprint }
        }
    }
}

/// ssh's pattern matching, as allowed-signers uses it for principals: `*` any run, `?` one
/// character.
pub fn principal_matches(pattern: &str, text: &str) -> bool {
    // Greedy matching with one remembered star: a later star supersedes an earlier one, so
    // the work is at most |pattern| × |text| steps, never the exponential backtracking a
    // recursive matcher does on a pattern of many stars (a hostile allowed-signers line).
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((at, from)) => {
                    pi = at + 1;
                    ti = from + 1;
                    star = Some((at, from + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key as ssh-keygen writes it, with a blank line after it (as a CI secret pasted with
    /// its line end comes back) and with Windows line ends: the same key.
    #[test]
    fn a_key_with_blank_lines_or_windows_line_ends_loads() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let text = fs_err::read_to_string(&key).unwrap();
        let fingerprint = SigningKey::load(&key).unwrap().fingerprint();
        for (name, variant) in
            [("blank", format!("\n{text}\n\n")), ("crlf", text.replace('\n', "\r\n"))]
        {
            let path = dir.path().join(name);
            fs_err::write(&path, variant).unwrap();
            assert_eq!(SigningKey::load(&path).unwrap().fingerprint(), fingerprint, "{name}");
        }
    }

    #[test]
    fn patterns() {
        assert!(principal_matches("*@example.com", "alice@example.com"));
        assert!(principal_matches("alice@example.com", "alice@example.com"));
        assert!(!principal_matches("*@example.com", "alice@example.org"));
        assert!(principal_matches("a?ice", "alice"));
        assert!(principal_matches("*", ""));
        assert!(principal_matches("**a*", "ba"));
        assert!(!principal_matches("a*b", "acbd"));
        assert!(principal_matches("a*b*", "acbd"));
        assert!(principal_matches("?é*", "xé@example.com"));
    }

    /// Forty stars against a long text that almost matches: a backtracking matcher would take
    /// longer than the universe has; this one answers at once.
    #[test]
    fn many_stars_do_not_blow_up() {
        let pattern = format!("{}b", "a*".repeat(40));
        let text = "a".repeat(200);
        assert!(!principal_matches(&pattern, &text));
        assert!(principal_matches(&pattern, &format!("{text}b")));
    }

    #[test]
    fn signers_files_parse_and_name_bad_lines() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFFhXrK25doMBZ/QsqyzPs9Prg05jog9ysQcD6n/IhGn";
        let text = format!(
            "# people\nalice@example.com,bob@example.com {key} alice\n*@ci.example.com namespaces=\"git\" {key}\nx@y namespaces=\"file,other\" {key}\nz@y namespaces=\"file,git\" {key}\n"
        );
        let signers = AllowedSigners::parse(&text).unwrap();
        let public = PublicKey::from_openssh(key).unwrap();
        let now = 1_800_000_000;
        assert!(signers.allows("bob@example.com", &public, now));
        assert!(signers.allows("runner@ci.example.com", &public, now));
        assert!(!signers.allows("x@y", &public, now), "a key for another namespace does not count");
        assert!(signers.allows("z@y", &public, now));
        let err = AllowedSigners::parse("alice@example.com\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("no key"), "{err}");
    }

    #[test]
    fn valid_after_and_valid_before_bound_a_line_in_time() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFFhXrK25doMBZ/QsqyzPs9Prg05jog9ysQcD6n/IhGn";
        let text = format!(
            "old@example.com valid-before=\"20260101Z\" {key}\nnew@example.com valid-after=\"202601011200\" {key}\n"
        );
        let signers = AllowedSigners::parse(&text).unwrap();
        let public = PublicKey::from_openssh(key).unwrap();
        let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_second();
        assert!(signers.allows("old@example.com", &public, at("2025-12-31T23:59:59Z")));
        assert!(!signers.allows("old@example.com", &public, at("2026-01-01T00:00:00Z")));
        assert!(!signers.allows("new@example.com", &public, at("2026-01-01T11:59:59Z")));
        assert!(signers.allows("new@example.com", &public, at("2026-01-01T12:00:00Z")));
        for bad in ["tomorrow", "20261301", "20260230Z", "202601011260"] {
            let err = AllowedSigners::parse(&format!("a@b valid-after=\"{bad}\" {key}\n"));
            assert!(
                err.unwrap_err().to_string().contains(&format!("valid-after=\"{bad}\"")),
                "{bad}"
            );
        }
    }
}
