//! `BundleName` and `Version`: the two halves of a bundle's human identity, checked so that
//! they are always a valid OCI repository component and a valid OCI tag.

use std::{fmt, str::FromStr};

/// A bundle name: lowercase letters and digits, separated by single `.` or runs of `-`.
///
/// It becomes the last component of an OCI repository name, so it follows the
/// distribution spec's component grammar (without `_`), at most 128 characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleName(String);

/// Why a text is not a bundle name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "bundle name `{0}` is not valid: use lowercase letters and digits, separated by single '.' or by '-' \
     (it must start and end with a letter or digit, at most 128 characters)"
)]
pub struct NameError(pub String);

impl BundleName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BundleName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<BundleName, NameError> {
        let bytes = s.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let ok = !s.is_empty()
            && s.len() <= 128
            && alnum(bytes[0])
            && alnum(bytes[bytes.len() - 1])
            && bytes.iter().all(|&b| alnum(b) || b == b'.' || b == b'-')
            && !s.contains("..")
            && !s.contains(".-")
            && !s.contains("-.");
        if ok { Ok(BundleName(s.to_owned())) } else { Err(NameError(s.to_owned())) }
    }
}

impl fmt::Display for BundleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BundleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A bundle version: semantic versioning without build metadata (a `+` cannot be part of an OCI tag).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Version(semver::Version);

/// Why a text is not a bundle version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    /// Not semantic versioning.
    #[error(
        "version `{text}` is not a semantic version (for example 1.4.2 or 2.0.0-rc.1): {reason}"
    )]
    NotSemver {
        /// The text given.
        text: String,
        /// What the semver parser said.
        reason: String,
    },
    /// Build metadata present.
    #[error(
        "version `{0}` has build metadata (`+…`), which cannot be part of an OCI tag: \
         drop it or move it into a pre-release (`-…`)"
    )]
    BuildMetadata(String),
}

impl Version {
    /// The semantic version.
    pub fn semver(&self) -> &semver::Version {
        &self.0
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Version, VersionError> {
        let version = semver::Version::parse(s)
            .map_err(|e| VersionError::NotSemver { text: s.to_owned(), reason: e.to_string() })?;
        if !version.build.is_empty() {
            return Err(VersionError::BuildMetadata(s.to_owned()));
        }
        Ok(Version(version))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

macro_rules! string_serde {
    ($ty:ty, $name:literal, $pattern:literal, $description:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description
                })
            }
        }
    };
}
pub(crate) use string_serde;

string_serde!(
    BundleName,
    "BundleName",
    "^[a-z0-9]+((\\.|-+)[a-z0-9]+)*$",
    "Lowercase letters and digits separated by single '.' or by '-'; the OCI repository name of the bundle."
);
string_serde!(
    Version,
    "Version",
    "^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?$",
    "A semantic version without build metadata; it is the bundle's tag."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["web", "k8s-app", "a.b", "a--b", "x1"] {
            assert!(good.parse::<BundleName>().is_ok(), "{good}");
        }
        for bad in ["", "Web", "-web", "web-", "a..b", "a_b", "a/b", "a.-b", &"a".repeat(129)] {
            assert!(bad.parse::<BundleName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!("1.4.2".parse::<Version>().unwrap().to_string(), "1.4.2");
        assert!("2.0.0-rc.1".parse::<Version>().is_ok());
        assert!(matches!("1.4".parse::<Version>(), Err(VersionError::NotSemver { .. })));
        assert!(matches!("1.4.2+abc".parse::<Version>(), Err(VersionError::BuildMetadata(_))));
    }
}
