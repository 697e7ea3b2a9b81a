//! The templates of a bundle: the one minijinja environment they render in (the applier's) and
//! the check `bundle build` makes of each, so that a syntax error or a filter nobody defined is
//! refused when the bundle is made, not when it is applied in prod.

use std::path::Path;

/// The most bytes of a template read for the check.
const TEMPLATE_LIMIT: u64 = 64 << 20;
/// Steps the check may take per template (its render with empty parameters).
const CHECK_STEPS: u64 = 1_000_000;

/// The environment every template renders in: undefined values are errors; a trailing newline
/// is kept; only `.html`, `.htm` and `.xml` files are HTML-escaped (minijinja's JSON escaping of
/// `.yaml` and `.json` files is off: values render as written); and besides minijinja's
/// builtins (`indent`, `trim`, `replace`, …) the filters `tojson` (JSON, which YAML reads too:
/// the safe way to put any string or value into YAML or JSON), `b64encode` (standard base64,
/// for a Secret's `data:`) and `sha256` (hex, for a checksum annotation).
pub fn environment() -> minijinja::Environment<'static> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("holds because the default delimiters are valid"),
    );
    env.set_auto_escape_callback(|name| match minijinja::default_auto_escape_callback(name) {
        minijinja::AutoEscape::Json => minijinja::AutoEscape::None,
        other => other,
    });
    env.add_filter("b64encode", |value: String| {
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    });
    env.add_filter("sha256", |value: String| hex::encode(sha2::Sha256::digest(value.as_bytes())));
    env
}

/// What is wrong with one template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateProblem {
    /// The file, relative to the descriptor.
    pub file: String,
    /// The line, when minijinja knows it.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Checks the template `file` (relative to `root`): it must be UTF-8 text that parses, and
/// rendered with every value undefined (so only what that reaches), use no filter, test or
/// function the environment lacks. Values and their types are checked when the bundle is
/// rendered with an environment's parameters.
pub fn check(root: &Path, file: &str) -> Option<TemplateProblem> {
    let problem = |line, message| Some(TemplateProblem { file: file.to_owned(), line, message });
    let source = match baton_fs::read_limited(&root.join(file), TEMPLATE_LIMIT)
        .map_err(|e| e.to_string())
        .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned()))
    {
        Ok(source) => source,
        Err(e) => return problem(None, format!("cannot be read as a template: {e}")),
    };
    let mut env = environment();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_fuel(Some(CHECK_STEPS));
    let template = match env.template_from_named_str(file, &source) {
        Ok(template) => template,
        Err(e) => return problem(e.line(), message(&e)),
    };
    match template.render_captured_to(minijinja::context! {}, std::io::sink()) {
        Err(e)
            if matches!(
                e.kind(),
                minijinja::ErrorKind::UnknownFilter
                    | minijinja::ErrorKind::UnknownTest
                    | minijinja::ErrorKind::UnknownFunction
                    | minijinja::ErrorKind::SyntaxError
            ) =>
        {
            problem(e.line(), message(&e))
        }
        _ => None,
    }
}

/// minijinja's error kind and detail, on one line.
pub fn message(error: &minijinja::Error) -> String {
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    message
}
