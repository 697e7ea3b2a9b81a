//! The targets of an environment and what they say back: `targets` (the fleet an environment
//! expects), `verify` (the checks a target runs after it applies), `gates.verified` (what a
//! downstream promotion needs of them), and the facts of one report as a pin records them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Digest, Duration, EnvName, name::string_serde};

/// A target's id within its environment: letters, digits, `.`, `_` and `-`, starting with a
/// letter or digit, at most 63 characters (`web-1`, `host-17.eu`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TargetId(String);

/// Why a text is not a target id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "target id `{0}` is not valid: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters (for example web-1)"
)]
pub struct TargetIdError(pub String);

impl TargetId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The principal a target's key is listed under in `.baton/allowed_signers`:
    /// `ID@ENV.target` (`web-1@staging.target`), so that a key names both the target and its
    /// environment and a dev target's key never speaks for staging.
    pub fn principal(&self, env: &EnvName) -> String {
        format!("{}@{env}.target", self.0)
    }
}

impl FromStr for TargetId {
    type Err = TargetIdError;

    fn from_str(s: &str) -> Result<TargetId, TargetIdError> {
        let ok = s.len() <= 63
            && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok { Ok(TargetId(s.to_owned())) } else { Err(TargetIdError(s.to_owned())) }
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(
    TargetId,
    "TargetId",
    "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
    "A target's id within its environment, for example web-1."
);

/// The targets an environment expects to report: their ids, or how many of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ExpectedTargets {
    /// Exactly these targets.
    Ids(Vec<TargetId>),
    /// This many distinct targets, whatever their ids.
    Count(u32),
}

impl ExpectedTargets {
    /// How many targets are expected.
    pub fn len(&self) -> usize {
        match self {
            ExpectedTargets::Ids(ids) => ids.len(),
            ExpectedTargets::Count(n) => *n as usize,
        }
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is one of them (any id is, when only a count is given).
    pub fn admits(&self, id: &TargetId) -> bool {
        match self {
            ExpectedTargets::Ids(ids) => ids.contains(id),
            ExpectedTargets::Count(_) => true,
        }
    }
}

/// One check a target runs after every apply and heal: an argv, no shell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCheck {
    /// The name reports give the check (default: the command as one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The program and its arguments, run in the applied release's directory with the
    /// `BATON_*` variables.
    pub command: Vec<String>,
    /// How long one attempt may run (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How many more attempts after a failed one (default 0).
    #[serde(default)]
    pub retries: u32,
    /// The pause between attempts (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
}

impl VerifyCheck {
    /// The name in reports: the given one, else the command joined by spaces.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.command.join(" "))
    }

    /// How long one attempt may run.
    pub fn attempt_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.map_or(30, Duration::seconds))
    }

    /// The pause between attempts.
    pub fn pause(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.interval.map_or(2, Duration::seconds))
    }
}

/// `verify` as written: one table or an array of them.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "only read by schemars")]
pub(crate) enum VerifyChecks {
    /// One check.
    One(VerifyCheck),
    /// Several, run in order; all must pass.
    Many(Vec<VerifyCheck>),
}

/// Reads `verify` as one table or an array of tables, with the error of the form given (an
/// untagged enum would hide it behind "did not match any variant").
pub(crate) fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<VerifyCheck>, D::Error> {
    struct Checks;
    impl<'de> serde::de::Visitor<'de> for Checks {
        type Value = Vec<VerifyCheck>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a check (a table with `command`) or an array of them")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let check =
                VerifyCheck::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            Ok(vec![check])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    deserializer.deserialize_any(Checks)
}

/// What a target does when its verification fails after an apply.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum OnVerifyFailure {
    /// Keep the new release (it is recorded and reported as failed).
    #[default]
    Keep,
    /// Put the release that was current before back (dir targets).
    Rollback,
}

/// `gates.verified`: how many of the upstream's expected targets must have reported the digest
/// verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifiedRule {
    /// Every expected target.
    All,
    /// At least this many distinct expected targets.
    AtLeast(u32),
}

impl VerifiedRule {
    /// How many targets must have verified, of `expected`.
    pub fn needed(self, expected: &ExpectedTargets) -> usize {
        match self {
            VerifiedRule::All => expected.len(),
            VerifiedRule::AtLeast(n) => n as usize,
        }
    }
}

impl fmt::Display for VerifiedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifiedRule::All => f.write_str("all"),
            VerifiedRule::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

/// `gates.verified` as written.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum VerifiedRepr {
    /// `"all"`.
    Word(AllWord),
    /// A number of targets, at least 1.
    Count(u32),
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AllWord {
    All,
}

impl Serialize for VerifiedRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VerifiedRule::All => VerifiedRepr::Word(AllWord::All),
            VerifiedRule::AtLeast(n) => VerifiedRepr::Count(*n),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for VerifiedRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<VerifiedRule, D::Error> {
        match VerifiedRepr::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "`verified` is \"all\" or a number of targets (at least 1), for example `verified = \"all\"`",
            )
        })? {
            VerifiedRepr::Word(AllWord::All) => Ok(VerifiedRule::All),
            VerifiedRepr::Count(0) => Err(serde::de::Error::custom(
                "`verified = 0` asks for nothing: remove it, or ask for at least 1 target",
            )),
            VerifiedRepr::Count(n) => Ok(VerifiedRule::AtLeast(n)),
        }
    }
}

impl schemars::JsonSchema for VerifiedRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VerifiedRule".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"all\" expected targets of the upstream, or at least this many.",
            "oneOf": [{ "const": "all" }, { "type": "integer", "minimum": 1 }]
        })
    }
}

/// One target's report a promotion relied on, as its pin records it: which target, the report's
/// manifest digest (a referrer of the bundle in the upstream's store) and when it verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordedVerification {
    /// The target that verified.
    pub target: TargetId,
    /// The report's manifest digest in the upstream environment's store.
    pub report: Digest,
    /// When its verification passed (RFC 3339, UTC), as the signed report says.
    pub at: jiff::Timestamp,
}
