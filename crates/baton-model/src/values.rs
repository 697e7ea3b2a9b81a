//! `params/<env>/<bundle>.toml`: the explicit parameter values of one bundle in one environment,
//! and their check against the schema the bundle carries. Secrets are never values here, only
//! references (`{ from_env = "…" }`, `{ from_file = "…" }`) that the applier resolves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ParamSchema, ParamType, Violation};

/// Where a value is read from at apply time.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// An environment variable of the applier's process.
    FromEnv(String),
    /// A file on the applier's machine.
    FromFile(String),
}

/// One value: a literal, or a reference resolved by the applier.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    /// `{ from_env = "NAME" }` or `{ from_file = "PATH" }`.
    Ref(SecretRef),
    /// Any TOML value.
    Literal(Value),
}

/// The values of one bundle in one environment, by parameter name.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(
    title = "params/<env>/<bundle>.toml",
    description = "Parameter values of one bundle in one environment. Secrets are references: { from_env = \"NAME\" } or { from_file = \"PATH\" }."
)]
pub struct ParamValues(BTreeMap<String, ParamValue>);

impl ParamValues {
    /// Parses the text of a params file (not TOML or a wrong shape gives line and column).
    pub fn from_toml(text: &str) -> Result<ParamValues, toml::de::Error> {
        toml::from_str(text)
    }

    /// The values by name.
    pub fn values(&self) -> &BTreeMap<String, ParamValue> {
        &self.0
    }

    /// Every reason these values do not satisfy `schema`, all at once; empty when they do.
    ///
    /// Missing required parameters, unknown parameters, wrong types, values out of range, not
    /// in the enum or not matching the pattern, literals given for secrets, and references given
    /// for anything that is not a string.
    pub fn check(&self, schema: &ParamSchema) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut add = |name: &str, problem: String| {
            violations.push(Violation { name: name.to_owned(), problem });
        };
        for (name, spec) in schema.specs() {
            match self.0.get(name) {
                None if spec.required => {
                    add(name, "is required and has no value: add it to the params file".into());
                }
                Some(ParamValue::Literal(_)) if spec.secret => add(
                    name,
                    "is a secret and must be a reference, not a value: write `{ from_env = \"NAME\" }` or `{ from_file = \"PATH\" }` (and remove the value from git history if it was real)".into(),
                ),
                Some(ParamValue::Ref(_)) if spec.ty != ParamType::String => add(
                    name,
                    format!(
                        "is a reference, but only string parameters can be read from the environment or a file (this one is {})",
                        format!("{:?}", spec.ty).to_lowercase()
                    ),
                ),
                None | Some(ParamValue::Ref(_)) => {}
                Some(ParamValue::Literal(value)) => {
                    for problem in spec.check(value) {
                        add(name, problem);
                    }
                }
            }
        }
        for name in self.0.keys() {
            if !schema.specs().contains_key(name) {
                let known: Vec<&str> = schema.specs().keys().map(String::as_str).collect();
                add(
                    name,
                    if known.is_empty() {
                        "is not a parameter of this bundle (it declares none)".into()
                    } else {
                        format!(
                            "is not a parameter of this bundle (it declares: {})",
                            known.join(", ")
                        )
                    },
                );
            }
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BundleFile;

    const BUNDLE: &str = r#"
[bundle]
name = "web"
version = "1.0.0"

[params.server_name]
type = "string"
required = true
pattern = "^[a-z.]+$"

[params.workers]
type = "integer"
default = 2
minimum = 1
maximum = 64

[params.mode]
type = "string"
default = "blue"
enum = ["blue", "green"]

[params.db_password]
type = "string"
secret = true
required = true
"#;

    fn check(values: &str) -> Vec<String> {
        let (_, schema) = BundleFile::from_toml(BUNDLE).unwrap();
        ParamValues::from_toml(values)
            .unwrap()
            .check(&schema)
            .into_iter()
            .map(|v| format!("{}: {}", v.name, v.problem))
            .collect()
    }

    #[test]
    fn good_values_pass() {
        let found = check(
            "server_name = \"shop.example.com\"\nworkers = 8\ndb_password = { from_env = \"DB_PW\" }\n",
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = check(
            "workers = 100\nmode = \"red\"\ndb_password = \"hunter2\"\ncolour = 1\nserver_name = { from_file = \"/etc/name\" }\n",
        );
        let text = found.join("\n");
        assert_eq!(found.len(), 4, "{text}");
        assert!(text.contains("workers: 100 is above the maximum 64"), "{text}");
        assert!(text.contains("mode: not one of the allowed values"), "{text}");
        assert!(text.contains("db_password: is a secret and must be a reference"), "{text}");
        assert!(!text.contains("hunter2"), "a secret's value is never repeated: {text}");
        assert!(text.contains("colour: is not a parameter of this bundle"), "{text}");
        let found = check("server_name = \"UPPER\"\nworkers = \"8\"\n").join("\n");
        assert!(found.contains("server_name: does not match the pattern"), "{found}");
        assert!(found.contains("workers: expected integer, found a string"), "{found}");
        assert!(found.contains("db_password: is required"), "{found}");
    }
}
