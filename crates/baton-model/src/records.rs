//! What baton writes into a state repository: the pin of a bundle in an environment
//! (`state/<env>/<bundle>.toml`), an approval (`approvals/<env>/<bundle>/<hex>/<principal>.toml`),
//! and the git trailers of the commits that write them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{BundleName, Digest, EnvName, Principal, RecordedVerification, Version};

/// Why a pin changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The digest came from the upstream environment (or, for the first one, a store) through the gates.
    Promote,
    /// The digest is one this environment pinned before.
    Rollback,
    /// The gates were skipped with a recorded reason.
    BreakGlass,
    /// An approval of a digest for an environment (approval commits only).
    Approve,
}

impl Action {
    /// The word used in files and trailers.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::BreakGlass => "break-glass",
            Action::Approve => "approve",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Action, String> {
        Ok(match s {
            "promote" => Action::Promote,
            "rollback" => Action::Rollback,
            "break-glass" => Action::BreakGlass,
            "approve" => Action::Approve,
            other => return Err(format!("unknown action `{other}`")),
        })
    }
}

/// `state/<env>/<bundle>.toml`: the digest pinned in an environment and how it got there.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "state/<env>/<bundle>.toml",
    description = "Written only by baton: the digest pinned in one environment for one bundle."
)]
pub struct StateRecord {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The pinned manifest digest.
    pub digest: Digest,
    /// The bundle's version (its tag).
    pub version: Version,
    /// sha256 of the params file's bytes at the time of the pin (of no bytes when there was none).
    pub params_digest: Digest,
    /// Why the pin changed.
    pub action: Action,
    /// The environment the digest came from (none for the first entry of a chain or a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<EnvName>,
    /// The store the bytes were copied from.
    pub source_store: String,
    /// Who promoted.
    pub by: Principal,
    /// When, RFC 3339 in UTC; the same instant as the commit.
    pub at: jiff::Timestamp,
    /// The digest pinned before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Digest>,
    /// Why the gates were skipped (break-glass only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key ids of the bundle signatures the `signed_by` gate counted; each verifies over
    /// `digest` in this environment's store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// The manifest digest of this promotion's verification summary attestation, a referrer of
    /// the bundle in this environment's store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Digest>,
    /// The upstream targets' reports the `verified` gate counted, each a referrer of the bundle
    /// in the upstream environment's store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<RecordedVerification>,
    /// The manifest digest of the environment's rendering published for Flux and Argo CD (where
    /// baton.toml says `publish = true`), in this environment's store, tagged with its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Digest>,
}

impl StateRecord {
    /// The file's text: TOML, keys in a fixed order, ending with a newline.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("holds because a state record is plain TOML")
    }

    /// Parses a state file.
    pub fn from_toml(text: &str) -> Result<StateRecord, toml::de::Error> {
        toml::from_str(text)
    }
}

/// `approvals/<env>/<bundle>/<hex>/<principal>.toml`: one principal approves one digest for one
/// environment.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "approvals/<env>/<bundle>/<hex>/<principal>.toml",
    description = "Written only by baton: one principal approves one digest for one environment."
)]
pub struct ApprovalRecord {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment the digest may be promoted to.
    pub environment: EnvName,
    /// The approved manifest digest.
    pub digest: Digest,
    /// Who approved.
    pub by: Principal,
    /// When, RFC 3339 in UTC.
    pub at: jiff::Timestamp,
    /// What the approver said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ApprovalRecord {
    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("holds because an approval record is plain TOML")
    }

    /// Parses an approval file.
    pub fn from_toml(text: &str) -> Result<ApprovalRecord, toml::de::Error> {
        toml::from_str(text)
    }
}

/// The trailers of a baton commit: plain `git log` tells the story with them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Trailers {
    /// `Baton-Action`.
    pub action: Action,
    /// `Baton-Bundle`.
    pub bundle: BundleName,
    /// `Baton-Digest`.
    pub digest: Digest,
    /// `Baton-From`: the environment or store the digest came from (absent for approvals).
    pub from: Option<String>,
    /// `Baton-To`: the environment whose pin (or approvals) changed.
    pub to: EnvName,
    /// `Baton-Version`.
    pub version: Option<Version>,
    /// `Baton-By`: the principal.
    pub by: Principal,
    /// `Baton-Params`: the params digest of a pin.
    pub params: Option<Digest>,
    /// `Baton-Previous`: the digest pinned before.
    pub previous: Option<Digest>,
    /// `Baton-Reason`: why the gates were skipped.
    pub reason: Option<String>,
}

impl Trailers {
    /// A full commit message: `subject`, a blank line, then the trailers, ending with a newline.
    pub fn message(&self, subject: &str) -> String {
        let mut text = format!("{subject}\n\n");
        let mut line = |key: &str, value: &dyn fmt::Display| {
            use fmt::Write as _;
            writeln!(text, "{key}: {value}")
                .expect("holds because writing to a String cannot fail");
        };
        line("Baton-Action", &self.action);
        line("Baton-Bundle", &self.bundle);
        line("Baton-Digest", &self.digest);
        if let Some(from) = &self.from {
            line("Baton-From", from);
        }
        line("Baton-To", &self.to);
        if let Some(version) = &self.version {
            line("Baton-Version", version);
        }
        line("Baton-By", &self.by);
        if let Some(params) = &self.params {
            line("Baton-Params", params);
        }
        if let Some(previous) = &self.previous {
            line("Baton-Previous", previous);
        }
        if let Some(reason) = &self.reason {
            line("Baton-Reason", &reason.replace('\n', " "));
        }
        text
    }

    /// Reads the trailers from a commit message; `None` when it is not a baton commit, an error
    /// naming the trailer when it is one but a trailer is malformed or missing.
    pub fn parse(message: &str) -> Option<Result<Trailers, String>> {
        let block = message.trim_end().rsplit("\n\n").next()?;
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for line in block.lines() {
            let (key, value) = line.split_once(": ")?;
            if key.starts_with("Baton-") {
                fields.push((key, value.trim()));
            }
        }
        if fields.is_empty() {
            return None;
        }
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let need = |key: &str| get(key).ok_or_else(|| format!("trailer `{key}` is missing"));
        let parse = || -> Result<Trailers, String> {
            let bad = |key: &str, e: &dyn fmt::Display| format!("trailer `{key}`: {e}");
            Ok(Trailers {
                action: need("Baton-Action")?.parse().map_err(|e| bad("Baton-Action", &e))?,
                bundle: need("Baton-Bundle")?.parse().map_err(|e| bad("Baton-Bundle", &e))?,
                digest: need("Baton-Digest")?.parse().map_err(|e| bad("Baton-Digest", &e))?,
                from: get("Baton-From").map(str::to_owned),
                to: need("Baton-To")?.parse().map_err(|e| bad("Baton-To", &e))?,
                version: get("Baton-Version")
                    .map(|v| v.parse().map_err(|e| bad("Baton-Version", &e)))
                    .transpose()?,
                by: need("Baton-By")?.parse().map_err(|e| bad("Baton-By", &e))?,
                params: get("Baton-Params")
                    .map(|v| v.parse().map_err(|e| bad("Baton-Params", &e)))
                    .transpose()?,
                previous: get("Baton-Previous")
                    .map(|v| v.parse().map_err(|e| bad("Baton-Previous", &e)))
                    .transpose()?,
                reason: get("Baton-Reason").map(str::to_owned),
            })
        };
        Some(parse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
    }

    #[test]
    fn trailers_round_trip() {
        let trailers = Trailers {
            action: Action::BreakGlass,
            bundle: "web".parse().unwrap(),
            digest: digest('a'),
            from: Some("staging".into()),
            to: "prod".parse().unwrap(),
            version: Some("1.4.2".parse().unwrap()),
            by: "alice@example.com".parse().unwrap(),
            params: Some(digest('b')),
            previous: Some(digest('c')),
            reason: Some("outage\nINC-1".into()),
        };
        let message = trailers.message("break-glass web 1.4.2 to prod");
        assert!(message.ends_with("Baton-Reason: outage INC-1\n"), "{message}");
        let back = Trailers::parse(&message).unwrap().unwrap();
        assert_eq!(back, Trailers { reason: Some("outage INC-1".into()), ..trailers });
        assert!(Trailers::parse("fix typo\n\nSigned-off-by: a <a@b>\n").is_none());
        let broken = "x\n\nBaton-Action: promote\nBaton-Bundle: web\n";
        assert!(Trailers::parse(broken).unwrap().unwrap_err().contains("Baton-Digest"));
    }

    #[test]
    fn state_record_round_trips() {
        let record = StateRecord {
            bundle: "web".parse().unwrap(),
            environment: "dev".parse().unwrap(),
            digest: digest('a'),
            version: "1.0.0".parse().unwrap(),
            params_digest: digest('b'),
            action: Action::Promote,
            from: None,
            source_store: "oci:build".into(),
            by: "ci".parse().unwrap(),
            at: "2026-11-24T05:00:00Z".parse().unwrap(),
            previous: None,
            reason: None,
            signatures: vec!["ab".repeat(32)],
            attestation: Some(digest('c')),
            verifications: vec![RecordedVerification {
                target: "web-1".parse().unwrap(),
                report: digest('d'),
                at: "2026-11-24T04:00:00Z".parse().unwrap(),
            }],
            published: Some(digest('e')),
        };
        let text = record.to_toml();
        assert!(text.starts_with("bundle = \"web\"\n"), "{text}");
        assert_eq!(StateRecord::from_toml(&text).unwrap(), record);
        assert!(StateRecord::from_toml(&format!("{text}extra = 1\n")).is_err());
    }
}
