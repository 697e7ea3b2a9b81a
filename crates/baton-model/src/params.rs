//! The parameter schema a bundle declares in `bundle.toml`, checked for contradictions, and the
//! check of a value against it (used for defaults now, and for environment values at promote and
//! apply time).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a parameter's value.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An array of values.
    List,
    /// A table of values.
    Map,
}

/// One parameter's declaration.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// The value's type.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Every environment must give a value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// The value used when an environment gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The only values allowed.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    /// The smallest number allowed (integer and number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The largest number allowed (integer and number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// A regular expression a string must match (anchor it with `^…$` to match the whole value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What the parameter is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Never stored: environments give a reference (`from_env`, `from_file`), the applier resolves it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The parameters a bundle declares, by name, checked to be free of contradictions.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ParamSchema(BTreeMap<String, ParamSpec>);

/// A parameter declaration that contradicts itself; every problem is listed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("parameter `{name}`: {}", problems.join("; "))]
pub struct SchemaError {
    /// The parameter.
    pub name: String,
    /// What is wrong with it.
    pub problems: Vec<String>,
}

/// A value that does not satisfy its parameter's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The parameter.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

impl ParamSchema {
    /// Checks every declaration and returns the schema, or every contradiction found.
    pub fn new(specs: BTreeMap<String, ParamSpec>) -> Result<ParamSchema, Vec<SchemaError>> {
        let errors: Vec<SchemaError> = specs
            .iter()
            .filter_map(|(name, spec)| {
                let problems = spec.contradictions(name);
                (!problems.is_empty()).then(|| SchemaError { name: name.clone(), problems })
            })
            .collect();
        if errors.is_empty() { Ok(ParamSchema(specs)) } else { Err(errors) }
    }

    /// The declarations by name.
    pub fn specs(&self) -> &BTreeMap<String, ParamSpec> {
        &self.0
    }

    /// True when no parameter is declared.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn valid_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

impl ParamSpec {
    fn contradictions(&self, name: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if !valid_param_name(name) {
            problems.push(
                "the name must be letters, digits and '_', not starting with a digit".to_owned(),
            );
        }
        let numeric = matches!(self.ty, ParamType::Integer | ParamType::Number);
        if self.required && self.default.is_some() {
            problems.push(
                "`required = true` and a `default` contradict each other: keep one".to_owned(),
            );
        }
        if self.secret {
            if self.default.is_some() {
                problems.push(
                    "a secret cannot have a `default`: it would be stored in the bundle".to_owned(),
                );
            }
            if self.ty != ParamType::String {
                problems.push("a secret must have `type = \"string\"`".to_owned());
            }
            if self.allowed.is_some() {
                problems.push(
                    "a secret cannot have an `enum`: its values would be stored in the bundle"
                        .to_owned(),
                );
            }
        }
        if !numeric && (self.minimum.is_some() || self.maximum.is_some()) {
            problems.push(
                format!("`minimum`/`maximum` apply to integer and number, not {:?}", self.ty)
                    .to_lowercase(),
            );
        }
        if let (Some(min), Some(max)) = (self.minimum, self.maximum)
            && min > max
        {
            problems.push(format!("`minimum` ({min}) is greater than `maximum` ({max})"));
        }
        if let Some(pattern) = &self.pattern {
            if self.ty != ParamType::String {
                problems.push("`pattern` applies to strings only".to_owned());
            } else if let Err(e) = regex::Regex::new(pattern) {
                problems.push(format!("`pattern` is not a valid regular expression: {e}"));
            }
        }
        if let Some(allowed) = &self.allowed {
            if matches!(self.ty, ParamType::List | ParamType::Map) {
                problems.push("`enum` applies to strings, numbers and booleans only".to_owned());
            } else if allowed.is_empty() {
                problems.push("`enum` is empty: no value could ever be given".to_owned());
            } else {
                for value in allowed {
                    for problem in self.check_shape(value) {
                        problems.push(format!("`enum` value {value}: {problem}"));
                    }
                }
            }
        }
        if problems.is_empty()
            && let Some(default) = &self.default
        {
            for problem in self.check(default) {
                problems.push(format!("`default` {default}: {problem}"));
            }
        }
        problems
    }

    /// Checks type, range and pattern, without the enum.
    fn check_shape(&self, value: &Value) -> Vec<String> {
        let type_ok = match self.ty {
            ParamType::String => value.is_string(),
            ParamType::Integer => value.is_i64() || value.is_u64(),
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::List => value.is_array(),
            ParamType::Map => value.is_object(),
        };
        if !type_ok {
            return vec![format!(
                "expected {}, found {}",
                format!("{:?}", self.ty).to_lowercase(),
                type_name(value)
            )];
        }
        let mut problems = Vec::new();
        if let Some(number) = value.as_f64() {
            if let Some(min) = self.minimum
                && number < min
            {
                problems.push(format!("{number} is below the minimum {min}"));
            }
            if let Some(max) = self.maximum
                && number > max
            {
                problems.push(format!("{number} is above the maximum {max}"));
            }
        }
        if let (Some(text), Some(pattern)) = (value.as_str(), &self.pattern)
            && let Ok(re) = regex::Regex::new(pattern)
            && !re.is_match(text)
        {
            problems.push(format!("does not match the pattern `{pattern}`"));
        }
        problems
    }

    /// Every reason `value` is not acceptable for this parameter; empty when it is.
    pub fn check(&self, value: &Value) -> Vec<String> {
        let mut problems = self.check_shape(value);
        if problems.is_empty()
            && let Some(allowed) = &self.allowed
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            problems.push(format!("not one of the allowed values {}", list.join(", ")));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> ParamSpec {
        toml::from_str(toml_text).unwrap()
    }

    fn check(name: &str, toml_text: &str, expected: &[&str]) {
        let specs = BTreeMap::from([(name.to_owned(), spec(toml_text))]);
        match ParamSchema::new(specs) {
            Ok(_) => assert!(expected.is_empty(), "expected problems {expected:?}"),
            Err(errors) => {
                let problems: Vec<&str> = errors[0].problems.iter().map(String::as_str).collect();
                assert_eq!(problems, expected);
            }
        }
    }

    #[test]
    fn accepts_consistent_schemas() {
        check("port", "type = \"integer\"\ndefault = 80\nminimum = 1\nmaximum = 65535", &[]);
        check("mode", "type = \"string\"\ndefault = \"a\"\nenum = [\"a\", \"b\"]", &[]);
        check("key", "type = \"string\"\nsecret = true", &[]);
    }

    #[test]
    fn finds_contradictions() {
        check(
            "mode",
            "type = \"string\"\ndefault = \"c\"\nenum = [\"a\", \"b\"]",
            &["`default` \"c\": not one of the allowed values \"a\", \"b\""],
        );
        check(
            "port",
            "type = \"integer\"\nminimum = 10\nmaximum = 1",
            &["`minimum` (10) is greater than `maximum` (1)"],
        );
        check(
            "key",
            "type = \"string\"\nsecret = true\ndefault = \"hunter2\"",
            &["a secret cannot have a `default`: it would be stored in the bundle"],
        );
        check(
            "n",
            "type = \"integer\"\ndefault = \"x\"",
            &["`default` \"x\": expected integer, found a string"],
        );
        check(
            "s",
            "type = \"string\"\npattern = \"(\"",
            &[
                "`pattern` is not a valid regular expression: regex parse error:\n    (\n    ^\nerror: unclosed group",
            ],
        );
        check(
            "1x",
            "type = \"boolean\"",
            &["the name must be letters, digits and '_', not starting with a digit"],
        );
        check(
            "r",
            "type = \"string\"\nrequired = true\ndefault = \"a\"",
            &["`required = true` and a `default` contradict each other: keep one"],
        );
    }

    #[test]
    fn checks_values() {
        let s = spec("type = \"string\"\npattern = \"^[a-z.]+$\"");
        assert!(s.check(&Value::from("example.com")).is_empty());
        assert_eq!(
            s.check(&Value::from("Example.com")),
            vec!["does not match the pattern `^[a-z.]+$`"]
        );
        let n = spec("type = \"number\"\nmaximum = 1.5");
        assert_eq!(n.check(&Value::from(2)), vec!["2 is above the maximum 1.5"]);
    }
}
