//! `bundle.toml`: the file at the root of a descriptor that names the bundle, chooses its files
//! and declares its parameters. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{BundleName, ParamSchema, ParamSpec, SchemaError, Version};

/// The whole `bundle.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "bundle.toml", description = "The descriptor of a baton bundle.")]
pub struct BundleFile {
    /// What the bundle is and which files it holds.
    pub bundle: BundleSection,
    /// The parameters the bundle's rendered files use, by name.
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
}

/// The `[bundle]` table.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleSection {
    /// The bundle's name; it becomes an OCI repository name.
    pub name: BundleName,
    /// The bundle's semantic version; it becomes the tag.
    pub version: Version,
    /// One line for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Globs (relative to the descriptor) of the files to pack; default: everything.
    #[serde(default = "include_all")]
    pub include: Vec<String>,
    /// Globs of files to leave out; a `.batonignore` in gitignore syntax is honoured too.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Globs of the files rendered with parameters at apply time; all others are copied byte for byte.
    #[serde(default)]
    pub render: Vec<String>,
}

fn include_all() -> Vec<String> {
    vec!["**".to_owned()]
}

/// Why a `bundle.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleFileError {
    /// Not TOML, an unknown key, a wrong type, a bad name or version (with line and column).
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// Parameter declarations that contradict themselves.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Schema(Vec<SchemaError>),
}

impl BundleFile {
    /// Parses and checks the text of a `bundle.toml`, returning it with its checked parameter schema.
    pub fn from_toml(text: &str) -> Result<(BundleFile, ParamSchema), BundleFileError> {
        let file: BundleFile = toml::from_str(text)?;
        let schema = ParamSchema::new(file.params.clone()).map_err(BundleFileError::Schema)?;
        Ok((file, schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example() {
        let text = r#"
[bundle]
name = "web"
version = "1.4.2"
description = "nginx site for the storefront"
exclude = ["**/*.swp"]
render = ["conf/*.conf"]

[params.server_name]
type = "string"
required = true
pattern = "^[a-z0-9.-]+$"

[params.tls_key]
type = "string"
secret = true
"#;
        let (file, schema) = BundleFile::from_toml(text).unwrap();
        assert_eq!(file.bundle.name.as_str(), "web");
        assert_eq!(file.bundle.include, vec!["**"]);
        assert_eq!(schema.specs().len(), 2);
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = BundleFile::from_toml(
            "[bundle]\nname = \"web\"\nversion = \"1.0.0\"\ncolour = \"red\"\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(text.contains("line 4"), "{text}");
    }

    #[test]
    fn bad_names_and_versions_are_named() {
        let err = BundleFile::from_toml("[bundle]\nname = \"Web\"\nversion = \"1.0.0\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bundle name `Web` is not valid") && err.contains("line 2"), "{err}");
        let err = BundleFile::from_toml("[bundle]\nname = \"web\"\nversion = \"1.0\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("version `1.0` is not a semantic version") && err.contains("line 3"),
            "{err}"
        );
    }
}
