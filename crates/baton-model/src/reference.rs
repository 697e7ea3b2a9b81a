//! Store locations and bundle references: `oci:PATH` is a store, `oci:PATH/NAME:TAG` and
//! `oci:PATH/NAME@sha256:HEX` name a bundle in it, the same text skopeo understands.

use std::{fmt, path::PathBuf, str::FromStr};

use crate::{BundleName, Digest};

/// Where bundles live.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StoreLocation {
    /// `oci:PATH`: a folder holding one OCI image layout per bundle name (`PATH/NAME/`).
    Layout(PathBuf),
}

/// What a reference selects inside a bundle's repository.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Selector {
    /// A tag, resolved through the store's index.
    Tag(String),
    /// A manifest digest: immutable.
    Digest(Digest),
}

/// A bundle in a store: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reference {
    /// The store.
    pub store: StoreLocation,
    /// The bundle name, the last path component.
    pub name: BundleName,
    /// The tag or digest.
    pub selector: Selector,
}

/// Why a text is not a store or a reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Not an `oci:` location.
    #[error(
        "`{0}` is not a store this version understands: write an OCI image layout store as `oci:PATH` \
         (registry stores are not supported yet)"
    )]
    UnknownKind(String),
    /// `oci:` with nothing after it.
    #[error("`{0}` has an empty path after `oci:`")]
    EmptyPath(String),
    /// The name part is not a bundle name.
    #[error("in reference `{text}`: {source}")]
    Name {
        /// The whole reference.
        text: String,
        /// What is wrong with the name.
        source: crate::NameError,
    },
    /// Neither tag nor digest.
    #[error(
        "reference `{0}` names no tag or digest: add `:TAG` (for example `:1.4.2`) or `@sha256:…`"
    )]
    NoSelector(String),
    /// The tag does not follow the OCI tag grammar.
    #[error(
        "in reference `{text}`: tag `{tag}` is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})"
    )]
    Tag {
        /// The whole reference.
        text: String,
        /// The tag.
        tag: String,
    },
    /// The digest after `@` does not parse.
    #[error("in reference `{text}`: {source}")]
    Digest {
        /// The whole reference.
        text: String,
        /// What is wrong with the digest.
        source: crate::DigestError,
    },
}

impl StoreLocation {
    /// The reference to `name` with `selector` in this store.
    pub fn reference(&self, name: BundleName, selector: Selector) -> Reference {
        Reference { store: self.clone(), name, selector }
    }
}

impl FromStr for StoreLocation {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<StoreLocation, ReferenceError> {
        Ok(StoreLocation::Layout(PathBuf::from(layout_path(s)?)))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Layout(path) => write!(f, "oci:{}", path.display()),
        }
    }
}

/// The text after `oci:`, which must not be empty.
fn layout_path(s: &str) -> Result<&str, ReferenceError> {
    match s.strip_prefix("oci:") {
        None => Err(ReferenceError::UnknownKind(s.to_owned())),
        Some("") => Err(ReferenceError::EmptyPath(s.to_owned())),
        Some(path) => Ok(path),
    }
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        let rest = layout_path(s)?;
        let (path_and_name, selector) = if let Some((left, digest)) = rest.rsplit_once('@') {
            let digest = digest
                .parse()
                .map_err(|source| ReferenceError::Digest { text: s.to_owned(), source })?;
            (left, Selector::Digest(digest))
        } else {
            let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
            match rest[last_slash..].rsplit_once(':') {
                Some((_, tag)) => {
                    if !valid_tag(tag) {
                        return Err(ReferenceError::Tag {
                            text: s.to_owned(),
                            tag: tag.to_owned(),
                        });
                    }
                    (&rest[..rest.len() - tag.len() - 1], Selector::Tag(tag.to_owned()))
                }
                None => return Err(ReferenceError::NoSelector(s.to_owned())),
            }
        };
        let (store, name) = match path_and_name.rsplit_once('/') {
            Some((store, name)) => (if store.is_empty() { "/" } else { store }, name),
            None => (".", path_and_name),
        };
        let name =
            name.parse().map_err(|source| ReferenceError::Name { text: s.to_owned(), source })?;
        Ok(Reference { store: StoreLocation::Layout(PathBuf::from(store)), name, selector })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.store, self.name)?;
        match &self.selector {
            Selector::Tag(tag) => write!(f, ":{tag}"),
            Selector::Digest(digest) => write!(f, "@{digest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, store: &str, name: &str, selector: &str) {
        let reference: Reference = text.parse().unwrap();
        assert_eq!(reference.store, StoreLocation::Layout(store.into()), "{text}");
        assert_eq!(reference.name.as_str(), name, "{text}");
        let shown = match &reference.selector {
            Selector::Tag(t) => t.clone(),
            Selector::Digest(d) => d.to_string(),
        };
        assert_eq!(shown, selector, "{text}");
    }

    #[test]
    fn parses_references() {
        let d = format!("sha256:{}", "a".repeat(64));
        check("oci:.baton/store/web:1.4.2", ".baton/store", "web", "1.4.2");
        check(&format!("oci:/tmp/s/web@{d}"), "/tmp/s", "web", &d);
        check("oci:web:1.0.0", ".", "web", "1.0.0");
        check("oci:/web:1.0.0", "/", "web", "1.0.0");
        check("oci:a:b/c/k8s-app:2.0.0-rc.1", "a:b/c", "k8s-app", "2.0.0-rc.1");
        assert_eq!(
            "oci:.baton/store/web:1.4.2".parse::<Reference>().unwrap().to_string(),
            "oci:.baton/store/web:1.4.2"
        );
    }

    #[test]
    fn refuses_bad_references() {
        assert!(matches!("web:1".parse::<Reference>(), Err(ReferenceError::UnknownKind(_))));
        assert!(matches!("oci:".parse::<Reference>(), Err(ReferenceError::EmptyPath(_))));
        assert!(matches!("oci:s/web".parse::<Reference>(), Err(ReferenceError::NoSelector(_))));
        assert!(matches!("oci:s/Web:1".parse::<Reference>(), Err(ReferenceError::Name { .. })));
        assert!(matches!("oci:s/web:-x".parse::<Reference>(), Err(ReferenceError::Tag { .. })));
        assert!(matches!(
            "oci:s/web@sha256:zz".parse::<Reference>(),
            Err(ReferenceError::Digest { .. })
        ));
    }

    #[test]
    fn parses_stores() {
        assert_eq!(
            "oci:.baton/store".parse::<StoreLocation>().unwrap(),
            StoreLocation::Layout(".baton/store".into())
        );
        assert!(matches!(
            "localhost:5000/x".parse::<StoreLocation>(),
            Err(ReferenceError::UnknownKind(_))
        ));
    }
}
