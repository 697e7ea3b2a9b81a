//! `params/<env>/<bundle>.toml`: the explicit parameter values of one bundle in one environment,
//! and their check against the schema the bundle carries. Secrets are never values here, only
//! references (`{ from_env = "…" }`, `{ from_file = "…" }`) that the applier resolves.

use std::{
    collections::BTreeMap,
    path::{Component, Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ParamSchema, ParamType, Violation};

/// Where a value is read from at apply time.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// An environment variable of the applier's process.
    FromEnv(String),
    /// A file in the applier's secrets directory: a path relative to it, or an absolute path
    /// inside the directory `baton.toml` names.
    FromFile(String),
}

/// A `from_file` reference placed in its secrets directory: the directory, and the path below
/// it (only normal components, so it cannot climb out lexically; the applier opens it so that
/// no symbolic link leads out either).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfinedFile {
    /// The secrets directory.
    pub dir: PathBuf,
    /// The file, relative to `dir`.
    pub below: PathBuf,
}

/// True for an absolute path made only of normal components (no `.` or `..`).
pub fn is_clean_absolute(path: &str) -> bool {
    let path = Path::new(path);
    path.is_absolute()
        && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// Places a `from_file` path in a secrets directory: `declared` is the directory `baton.toml`
/// names, `dir` the one the applier uses (its `--secrets-dir`, else `declared`). A relative path
/// lies below `dir`; an absolute one must lie inside `declared`. `..`, `.` and an empty path are
/// refused. With `dir` unknown (at promote time, when baton.toml names none) a clean relative
/// path is accepted and `Ok(None)` returned: the applier places it.
pub fn confine(
    path: &str,
    declared: Option<&Path>,
    dir: Option<&Path>,
) -> Result<Option<ConfinedFile>, String> {
    let given = Path::new(path);
    let clean = |p: &Path| p.components().all(|c| matches!(c, Component::Normal(_)));
    if path.is_empty() {
        return Err("has an empty `from_file`: name a file in the secrets directory".into());
    }
    if given.is_absolute() {
        let Some(declared) = declared else {
            return Err(format!(
                "reads `{path}` by an absolute path, but the environment names no `secrets_dir` in baton.toml: give a path relative to the secrets directory, or set `secrets_dir`"
            ));
        };
        return match given.strip_prefix(declared) {
            Ok(below) if clean(below) && below.components().next().is_some() => {
                let dir = dir.unwrap_or(declared);
                Ok(Some(ConfinedFile { dir: dir.to_owned(), below: below.to_owned() }))
            }
            _ => Err(format!(
                "reads `{path}`, which lies outside the secrets directory `{}`: secrets are read only from there",
                declared.display()
            )),
        };
    }
    if !clean(given) {
        return Err(format!(
            "reads `{path}`, which holds `.` or `..`: name a file below the secrets directory"
        ));
    }
    Ok(dir.map(|dir| ConfinedFile { dir: dir.to_owned(), below: given.to_owned() }))
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
    /// in the enum or not matching the pattern, literals given for secrets, references given for
    /// anything not declared `secret = true`, and `from_file` paths outside `secrets_dir` (the
    /// environment's, from baton.toml).
    pub fn check(&self, schema: &ParamSchema, secrets_dir: Option<&Path>) -> Vec<Violation> {
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
                Some(ParamValue::Ref(_)) if !spec.secret => add(
                    name,
                    format!(
                        "is a reference, but only a parameter declared `secret = true` in bundle.toml may be read from the environment or a file: give its value here{}",
                        if spec.ty == ParamType::String { ", or declare it secret" } else { "" }
                    ),
                ),
                Some(ParamValue::Ref(SecretRef::FromFile(path))) => {
                    if let Err(problem) = confine(path, secrets_dir, secrets_dir) {
                        add(name, problem);
                    }
                }
                None | Some(ParamValue::Ref(SecretRef::FromEnv(_))) => {}
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
            .check(&schema, Some(Path::new("/run/secrets")))
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
        assert_eq!(found.len(), 5, "{text}");
        assert!(
            text.contains(
                "server_name: is a reference, but only a parameter declared `secret = true`"
            ),
            "{text}"
        );
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

    #[test]
    fn a_file_reference_stays_in_the_secrets_directory() {
        let base = "server_name = \"a.example.com\"\n";
        for (path, problem) in [
            ("/run/secrets/db", None),
            ("db/password", None),
            ("/etc/shadow", Some("lies outside the secrets directory `/run/secrets`")),
            ("/run/secrets/../../etc/shadow", Some("lies outside")),
            ("../etc/shadow", Some("holds `.` or `..`")),
            ("./db", Some("holds `.` or `..`")),
            ("/run/secrets", Some("lies outside")),
            ("", Some("has an empty `from_file`")),
        ] {
            let found = check(&format!("{base}db_password = {{ from_file = \"{path}\" }}\n"));
            match problem {
                None => assert!(found.is_empty(), "{path}: {found:?}"),
                Some(problem) => {
                    assert_eq!(found.len(), 1, "{path}: {found:?}");
                    assert!(found[0].starts_with("db_password: "), "{path}: {found:?}");
                    assert!(found[0].contains(problem), "{path}: {found:?}");
                }
            }
        }
        assert_eq!(
            confine("/run/secrets/db", Some(Path::new("/run/secrets")), Some(Path::new("/srv/s"))),
            Ok(Some(ConfinedFile { dir: "/srv/s".into(), below: "db".into() }))
        );
        assert_eq!(confine("db", None, None), Ok(None));
        assert!(
            confine("/run/secrets/db", None, None).unwrap_err().contains("names no `secrets_dir`")
        );
    }
}
