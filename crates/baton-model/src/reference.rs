//! Store locations and bundle references. A store is a prefix and a bundle lives at `STORE/NAME`:
//! `oci:PATH` is an OCI layout store (`oci:PATH/NAME:TAG`, the same text skopeo understands) and
//! `HOST[:PORT]/PATH` a registry store (`HOST[:PORT]/PATH/NAME@sha256:HEX`), parsed as the
//! container tools do: the first component is a host when it has a `.` or a `:` or is `localhost`.

use std::{fmt, path::PathBuf, str::FromStr};

use crate::{BundleName, Digest};

/// Where bundles live.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StoreLocation {
    /// `oci:PATH`: a folder holding one OCI image layout per bundle name (`PATH/NAME/`).
    Layout(PathBuf),
    /// `HOST[:PORT]/PATH`: repositories `PATH/NAME` of an OCI distribution registry.
    Registry {
        /// `HOST[:PORT]`.
        host: String,
        /// The repository prefix, `/`-separated components; empty for the registry's root.
        path: String,
    },
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
    /// Neither `oci:` nor a registry host.
    #[error(
        "`{0}` names no store: write an OCI layout store as `oci:PATH`, or a registry store as \
         `HOST[:PORT]/PATH` where HOST has a `.` or a `:` or is `localhost` (baton never assumes a default registry)"
    )]
    UnknownKind(String),
    /// The registry host does not parse.
    #[error(
        "in `{text}`: `{host}` is not a valid registry host (`HOST[:PORT]`, for example `registry.example.com` or `localhost:5000`)"
    )]
    Host {
        /// The whole text.
        text: String,
        /// The host part.
        host: String,
    },
    /// A repository path component does not follow the OCI grammar.
    #[error(
        "in `{text}`: path component `{component}` is not valid: use lowercase letters and digits, \
         separated by `.`, `_`, `__` or `-`"
    )]
    Component {
        /// The whole text.
        text: String,
        /// The component.
        component: String,
    },
    /// `oci:` with nothing after it.
    #[error("`{0}` has an empty path after `oci:`")]
    EmptyPath(String),
    /// The name part is not a bundle name.
    // The detail is part of the message, not a `source`: clap shows a value's error by its
    // message alone, and a cause printed in both would be printed twice elsewhere.
    #[error("in reference `{text}`: {reason}")]
    Name {
        /// The whole reference.
        text: String,
        /// What is wrong with the name.
        reason: crate::NameError,
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
    #[error("in reference `{text}`: {reason}")]
    Digest {
        /// The whole reference.
        text: String,
        /// What is wrong with the digest.
        reason: crate::DigestError,
    },
}

impl StoreLocation {
    /// The reference to `name` with `selector` in this store.
    pub fn reference(&self, name: BundleName, selector: Selector) -> Reference {
        Reference { store: self.clone(), name, selector }
    }

    /// The store as a pin records where its bytes came from, so that it means the same on every
    /// machine: a registry as `host[:port]/path` with the host in lower case and HTTPS's default
    /// port left out; a layout relative to `base` (the state repository's work tree, as the
    /// stores in `baton.toml` are), never as this machine's absolute path. `path` and `base`
    /// are absolute.
    pub fn recorded(&self, base: &std::path::Path) -> String {
        match self {
            StoreLocation::Layout(path) => {
                let relative = relative_path(base, path);
                if relative.as_os_str().is_empty() {
                    "oci:.".to_owned()
                } else {
                    format!("oci:{}", relative.display())
                }
            }
            StoreLocation::Registry { host, path } => {
                let host = host.to_ascii_lowercase();
                let host = host.strip_suffix(":443").unwrap_or(&host).to_owned();
                StoreLocation::Registry { host, path: path.trim_matches('/').to_owned() }
                    .to_string()
            }
        }
    }
}

/// `path` relative to `base`, lexically (`..` where they part); both absolute.
fn relative_path(base: &std::path::Path, path: &std::path::Path) -> PathBuf {
    let base: Vec<_> = base.components().collect();
    let path: Vec<_> = path.components().collect();
    let common = base.iter().zip(&path).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for component in &path[common..] {
        relative.push(component);
    }
    relative
}

impl FromStr for StoreLocation {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<StoreLocation, ReferenceError> {
        if let Some(path) = s.strip_prefix("oci:") {
            if path.is_empty() {
                return Err(ReferenceError::EmptyPath(s.to_owned()));
            }
            return Ok(StoreLocation::Layout(PathBuf::from(path)));
        }
        let (host, path) = s.split_once('/').unwrap_or((s, ""));
        registry(s, host, path.trim_end_matches('/'))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Layout(path) => write!(f, "oci:{}", path.display()),
            StoreLocation::Registry { host, path } if path.is_empty() => f.write_str(host),
            StoreLocation::Registry { host, path } => write!(f, "{host}/{path}"),
        }
    }
}

/// True when the first component of a reference names a host, as the container tools decide.
fn looks_like_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// A registry store from its host and path parts, each checked.
fn registry(text: &str, host: &str, path: &str) -> Result<StoreLocation, ReferenceError> {
    if !looks_like_host(host) {
        return Err(ReferenceError::UnknownKind(text.to_owned()));
    }
    if !valid_host(host) {
        return Err(ReferenceError::Host { text: text.to_owned(), host: host.to_owned() });
    }
    if !path.is_empty() {
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(ReferenceError::Component {
                    text: text.to_owned(),
                    component: component.to_owned(),
                });
            }
        }
    }
    Ok(StoreLocation::Registry { host: host.to_owned(), path: path.to_owned() })
}

/// `name[:port]` with a DNS-like name, or `[v6]:port`.
fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    return false;
                }
                ("v6", tail.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    name_ok && port_ok
}

/// One component of a repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
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
        let layout = s.strip_prefix("oci:");
        let rest = match layout {
            Some("") => return Err(ReferenceError::EmptyPath(s.to_owned())),
            Some(path) => path,
            None => s,
        };
        let (path_and_name, selector) = if let Some((left, digest)) = rest.rsplit_once('@') {
            let digest = digest
                .parse()
                .map_err(|reason| ReferenceError::Digest { text: s.to_owned(), reason })?;
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
                None if layout.is_none() && !rest.contains('/') => {
                    return Err(ReferenceError::UnknownKind(s.to_owned()));
                }
                None => return Err(ReferenceError::NoSelector(s.to_owned())),
            }
        };
        let (store_text, name) = match path_and_name.rsplit_once('/') {
            Some((store, name)) => (Some(store), name),
            None => (None, path_and_name),
        };
        let store = if layout.is_some() {
            let path = match store_text {
                Some("") => "/",
                Some(path) => path,
                None => ".",
            };
            StoreLocation::Layout(PathBuf::from(path))
        } else {
            let store_text = store_text.ok_or_else(|| ReferenceError::UnknownKind(s.to_owned()))?;
            let (host, path) = store_text.split_once('/').unwrap_or((store_text, ""));
            registry(s, host, path)?
        };
        let name =
            name.parse().map_err(|reason| ReferenceError::Name { text: s.to_owned(), reason })?;
        Ok(Reference { store, name, selector })
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

crate::name::string_serde!(
    StoreLocation,
    "StoreLocation",
    "^(oci:.+|[^/]+(/.+)?)$",
    "A store: `oci:PATH` (an OCI image layout folder) or `HOST[:PORT]/PATH` (a registry)."
);

#[cfg(test)]
mod tests {
    #[test]
    fn a_recorded_store_means_the_same_on_every_machine() {
        use std::path::Path;
        let base = Path::new("/work/runner-7/state");
        let layout = |p: &str| super::StoreLocation::Layout(p.into());
        assert_eq!(layout("/work/runner-7/state/stores/dev").recorded(base), "oci:stores/dev");
        assert_eq!(layout("/work/runner-7/build").recorded(base), "oci:../build");
        assert_eq!(layout("/work/runner-7/state").recorded(base), "oci:.");
        let registry = |h: &str, p: &str| super::StoreLocation::Registry {
            host: h.to_owned(),
            path: p.to_owned(),
        };
        assert_eq!(
            registry("Registry.Example.com:443", "team/dev").recorded(base),
            "registry.example.com/team/dev"
        );
        assert_eq!(registry("127.0.0.1:5000", "").recorded(base), "127.0.0.1:5000");
    }

    use super::*;

    fn layout(path: &str) -> StoreLocation {
        StoreLocation::Layout(path.into())
    }

    fn registry(host: &str, path: &str) -> StoreLocation {
        StoreLocation::Registry { host: host.into(), path: path.into() }
    }

    fn check(text: &str, store: &StoreLocation, name: &str, selector: &str) {
        let reference: Reference = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(&reference.store, store, "{text}");
        assert_eq!(reference.name.as_str(), name, "{text}");
        let shown = match &reference.selector {
            Selector::Tag(t) => t.clone(),
            Selector::Digest(d) => d.to_string(),
        };
        assert_eq!(shown, selector, "{text}");
        assert_eq!(reference.to_string(), text, "a reference prints as it was written");
    }

    #[test]
    fn parses_layout_references() {
        let d = format!("sha256:{}", "a".repeat(64));
        check("oci:.baton/store/web:1.4.2", &layout(".baton/store"), "web", "1.4.2");
        check(&format!("oci:/tmp/s/web@{d}"), &layout("/tmp/s"), "web", &d);
        check("oci:a:b/c/k8s-app:2.0.0-rc.1", &layout("a:b/c"), "k8s-app", "2.0.0-rc.1");
        let web: Reference = "oci:web:1.0.0".parse().unwrap();
        assert_eq!(web.store, layout("."));
    }

    #[test]
    fn parses_registry_references() {
        let d = format!("sha256:{}", "b".repeat(64));
        check(
            "localhost:5000/team/bundles/web:1.4.2",
            &registry("localhost:5000", "team/bundles"),
            "web",
            "1.4.2",
        );
        check(
            &format!("registry.example.com/team/web@{d}"),
            &registry("registry.example.com", "team"),
            "web",
            &d,
        );
        check("localhost/web:1.0.0", &registry("localhost", ""), "web", "1.0.0");
        check(
            "127.0.0.1:5000/a_b/c__d/e-f/web:1.0.0",
            &registry("127.0.0.1:5000", "a_b/c__d/e-f"),
            "web",
            "1.0.0",
        );
        check("[::1]:5000/x/web:1.0.0", &registry("[::1]:5000", "x"), "web", "1.0.0");
    }

    #[test]
    fn refuses_bad_references_naming_the_part() {
        let err = |text: &str| text.parse::<Reference>().unwrap_err();
        assert!(
            matches!(err("team/web:1"), ReferenceError::UnknownKind(_)),
            "no host, no default registry"
        );
        assert!(matches!(err("web:1.0.0"), ReferenceError::UnknownKind(_)));
        assert!(matches!(err("oci:"), ReferenceError::EmptyPath(_)));
        assert!(matches!(err("oci:s/web"), ReferenceError::NoSelector(_)));
        assert!(matches!(err("localhost:5000/web"), ReferenceError::NoSelector(_)));
        assert!(matches!(err("oci:s/Web:1"), ReferenceError::Name { .. }));
        assert!(matches!(err("oci:s/web:-x"), ReferenceError::Tag { .. }));
        assert!(matches!(err("oci:s/web@sha256:zz"), ReferenceError::Digest { .. }));
        assert_eq!(
            err("bad_host.example.com/web:1"),
            ReferenceError::Host {
                text: "bad_host.example.com/web:1".into(),
                host: "bad_host.example.com".into()
            }
        );
        assert_eq!(
            err("localhost:5000/Team/web:1"),
            ReferenceError::Component {
                text: "localhost:5000/Team/web:1".into(),
                component: "Team".into()
            }
        );
        assert!(matches!(err("localhost:99x/web:1"), ReferenceError::Host { .. }));
    }

    #[test]
    fn parses_stores() {
        assert_eq!("oci:.baton/store".parse::<StoreLocation>().unwrap(), layout(".baton/store"));
        assert_eq!(
            "localhost:5000/team".parse::<StoreLocation>().unwrap(),
            registry("localhost:5000", "team")
        );
        assert_eq!(
            "registry.example.com".parse::<StoreLocation>().unwrap(),
            registry("registry.example.com", "")
        );
        assert_eq!(
            "ghcr.io/org/bundles/".parse::<StoreLocation>().unwrap(),
            registry("ghcr.io", "org/bundles")
        );
        assert!(matches!(
            "team/bundles".parse::<StoreLocation>(),
            Err(ReferenceError::UnknownKind(_))
        ));
        assert!(matches!("oci:".parse::<StoreLocation>(), Err(ReferenceError::EmptyPath(_))));
        assert_eq!(
            "localhost:5000/team".parse::<StoreLocation>().unwrap().to_string(),
            "localhost:5000/team"
        );
    }
}
