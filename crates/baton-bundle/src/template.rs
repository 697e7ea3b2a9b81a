//! The templates of a bundle: the one minijinja environment they render in (the applier's) and
//! the check `bundle build` makes of each, so that a syntax error or a filter nobody defined is
//! refused when the bundle is made, not when it is applied in prod; and [`Renderer`], which
//! renders a bundle's templates for one environment, for every command that renders.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use baton_model::{
    BundleConfig, Digest, EnvName, FileKind, ParamSchema, ParamType, ParamValue, ParamValues,
    RenderLimits,
};

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

/// The values a bundle renders with: every parameter by name (the environment's value, else the
/// default), and the names of those declared secret, whose reads mark a file secret.
#[derive(Clone, Debug, Default)]
pub struct Values {
    /// Every parameter that has a value.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The parameters declared secret that have a value.
    pub secret: BTreeSet<String>,
}

impl Values {
    /// The values an environment gives with every secret replaced by a placeholder of its type
    /// (a string `<secret:NAME>`, `0`, `false`, `[]` or `{}`): what a render reads when secrets
    /// are not to be resolved (`baton render` without `--with-secrets`, the promote-time check,
    /// `publish`). A secret without a value stays without one, so a template that needs it
    /// fails as it would with the real value missing. Literal values of secret parameters are
    /// placeholders too: a value in git is no less a secret for being written there.
    pub fn with_placeholders(values: &ParamValues, schema: &ParamSchema) -> Values {
        let mut out = Values::default();
        for (name, spec) in schema.specs() {
            let value = match values.values().get(name) {
                Some(_) if spec.secret => placeholder(name, spec.ty),
                Some(ParamValue::Literal(value)) => value.clone(),
                // A reference is refused for a parameter not declared secret by
                // `ParamValues::check`; the placeholder keeps a render going all the same.
                Some(ParamValue::Ref(_)) => placeholder(name, spec.ty),
                None => match &spec.default {
                    Some(_) if spec.secret => placeholder(name, spec.ty),
                    Some(default) => default.clone(),
                    None => continue,
                },
            };
            if spec.secret {
                out.secret.insert(name.clone());
            }
            out.params.insert(name.clone(), value);
        }
        out
    }
}

/// The placeholder of a secret parameter of type `kind`.
pub fn placeholder(name: &str, kind: ParamType) -> serde_json::Value {
    match kind {
        ParamType::String => serde_json::Value::String(format!("<secret:{name}>")),
        ParamType::Integer | ParamType::Number => serde_json::Value::from(0),
        ParamType::Boolean => serde_json::Value::Bool(false),
        ParamType::List => serde_json::Value::Array(Vec::new()),
        ParamType::Map => serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// A template that would not render, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderFailure {
    /// The file, relative to the bundle's root.
    pub file: String,
    /// The line, when minijinja knows it.
    pub line: Option<usize>,
    /// What went wrong, unmasked: a caller that resolved secrets masks it before showing it.
    pub message: String,
    /// True when the rendering had read a secret parameter before it failed.
    pub read_secret: bool,
    /// True when the failure cannot depend on what a value holds (an undefined value, a
    /// filter, test, function or method nobody defined, a syntax error), only on which values
    /// there are: a placeholder in a secret's place fails this way exactly when the secret would.
    pub certain: bool,
}

/// One file rendered.
pub struct RenderedFile {
    /// The output.
    pub text: String,
    /// True when the rendering read a secret parameter (through any expression or filter).
    pub read_secret: bool,
}

/// Renders the files of one bundle for one environment: the render globs of its config, the
/// context every template sees (`params`, `env.name`, `bundle.{name,version,digest}`), and the
/// environment's limits, counted over the whole bundle. The applier renders its staging tree
/// through it, `baton render` and `publish` the same, and `promote` checks a bundle with it.
pub struct Renderer {
    env: minijinja::Environment<'static>,
    context: minijinja::Value,
    read: Arc<AtomicBool>,
    globs: globset::GlobSet,
    limits: RenderLimits,
    total: u64,
}

impl Renderer {
    /// A renderer of `config`'s templates with `values` in environment `env`.
    pub fn new(
        config: &BundleConfig,
        digest: &Digest,
        env: &EnvName,
        values: &Values,
        limits: RenderLimits,
    ) -> Result<Renderer, RenderFailure> {
        let mut globs = globset::GlobSetBuilder::new();
        for pattern in &config.render {
            let glob = globset::GlobBuilder::new(pattern).literal_separator(true).build().map_err(
                |e| RenderFailure {
                    file: pattern.clone(),
                    line: None,
                    message: format!("bad render glob: {e}"),
                    read_secret: false,
                    certain: true,
                },
            )?;
            globs.add(glob);
        }
        let globs = globs.build().map_err(|e| RenderFailure {
            file: String::new(),
            line: None,
            message: e.to_string(),
            read_secret: false,
            certain: true,
        })?;
        let mut jinja = environment();
        jinja.set_fuel(Some(limits.steps));
        let read = Arc::new(AtomicBool::new(false));
        let params = Params {
            values: values
                .params
                .iter()
                .map(|(k, v)| (k.clone(), minijinja::Value::from(minijinja::value::Serde(v))))
                .collect(),
            secret: values.secret.clone(),
            read: read.clone(),
        };
        let context = minijinja::context! {
            params => minijinja::Value::from_object(params),
            env => minijinja::context! { name => env.as_str() },
            bundle => minijinja::context! {
                name => config.name.as_str(),
                version => config.version.to_string(),
                digest => digest.to_string(),
            },
        };
        Ok(Renderer { env: jinja, context, read, globs, limits, total: 0 })
    }

    /// True when `path` is a template of the bundle (matches a render glob).
    pub fn wants(&self, path: &str) -> bool {
        self.globs.is_match(path)
    }

    /// True when some file of the config's index is a template.
    pub fn has_templates(&self, config: &BundleConfig) -> bool {
        config.files.iter().any(|f| f.kind == FileKind::File && self.wants(&f.path))
    }

    /// Renders the template `file` whose text is `source`.
    pub fn render(&mut self, file: &str, source: &str) -> Result<RenderedFile, RenderFailure> {
        let limits = self.limits;
        let limit = limits.file_bytes.min(limits.bundle_bytes.saturating_sub(self.total));
        let mut out = Capped { bytes: Vec::new(), limit, over: false };
        self.read.store(false, Ordering::Relaxed);
        let result = self
            .env
            .template_from_named_str(file, source)
            .and_then(|template| template.render_captured_to(&self.context, &mut out).map(drop));
        if let Err(e) = result {
            let message = if out.over {
                format!(
                    "renders more than {limit} bytes (limits: {} per file, {} per bundle; `render_limits` of the environment in baton.toml sets them)",
                    limits.file_bytes, limits.bundle_bytes
                )
            } else if e.kind() == minijinja::ErrorKind::OutOfFuel {
                format!(
                    "took more than {} steps to render: a loop that does not end, or one too large for a file (`render_limits.steps` of the environment in baton.toml sets the budget)",
                    limits.steps
                )
            } else {
                message(&e)
            };
            let certain = matches!(
                e.kind(),
                minijinja::ErrorKind::UndefinedError
                    | minijinja::ErrorKind::UnknownFilter
                    | minijinja::ErrorKind::UnknownTest
                    | minijinja::ErrorKind::UnknownFunction
                    | minijinja::ErrorKind::UnknownMethod
                    | minijinja::ErrorKind::SyntaxError
            );
            return Err(RenderFailure {
                file: file.to_owned(),
                line: e.line(),
                message,
                read_secret: self.read.load(Ordering::Relaxed),
                certain,
            });
        }
        self.total += out.bytes.len() as u64;
        let text = String::from_utf8(out.bytes).expect("holds because minijinja writes text");
        Ok(RenderedFile { text, read_secret: self.read.load(Ordering::Relaxed) })
    }
}

/// The `params` a template sees: a map whose reads of secret parameters are noticed, so the
/// file being rendered is known to hold (something derived from) a secret.
struct Params {
    values: BTreeMap<String, minijinja::Value>,
    secret: BTreeSet<String>,
    read: Arc<AtomicBool>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `debug()` in a template prints this: names only, never a value.
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl minijinja::value::Object for Params {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        let value = self.values.get(name)?;
        if self.secret.contains(name) {
            self.read.store(true, Ordering::Relaxed);
        }
        Some(value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(
            self.values.keys().map(|k| minijinja::Value::from(k.as_str())).collect(),
        )
    }
}

/// A buffer that refuses to grow past `limit` bytes.
struct Capped {
    bytes: Vec<u8>,
    limit: u64,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            self.over = true;
            return Err(std::io::Error::other("the rendering is over its size limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The templates a tree render filled in: every rendered path, and those among them whose
/// rendering read a secret (or whose output holds one).
#[derive(Clone, Debug, Default)]
pub struct RenderedTree {
    /// Every rendered path, in the index's order.
    pub paths: Vec<String>,
    /// The rendered paths that hold a secret (written 0600).
    pub secret: BTreeSet<String>,
}

/// Why a tree did not render.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A template did not render.
    #[error("{}: {}", .0.file, .0.message)]
    Render(RenderFailure),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Renders, in place under `root` (an unpacked bundle whose index is `config.files`), every file
/// that is a template, each replaced by a temporary file, fsync and rename. A file whose
/// rendering read a secret, or whose output `holds_secret` says holds one, is written 0600.
pub fn render_tree(
    root: &Path,
    config: &BundleConfig,
    renderer: &mut Renderer,
    holds_secret: &dyn Fn(&str) -> bool,
) -> Result<RenderedTree, TreeError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut tree = RenderedTree::default();
    for file in &config.files {
        if file.kind != FileKind::File || !renderer.wants(&file.path) {
            continue;
        }
        let path = root.join(&file.path);
        let source = fs_err::read_to_string(&path).map_err(|e| {
            TreeError::Render(RenderFailure {
                file: file.path.clone(),
                line: None,
                message: format!("cannot read it as UTF-8 text: {e}"),
                read_secret: false,
                certain: true,
            })
        })?;
        let output = renderer.render(&file.path, &source).map_err(TreeError::Render)?;
        let secret = output.read_secret || holds_secret(&output.text);
        let mode = fs_err::metadata(&path)?.permissions().mode();
        let mode = if secret { 0o600 } else { mode & 0o777 };
        let mut out = baton_fs::AtomicFile::create_with_mode(&path, mode)?;
        out.write_all(output.text.as_bytes())?;
        out.commit()?;
        if secret {
            tree.secret.insert(file.path.clone());
        }
        tree.paths.push(file.path.clone());
    }
    Ok(tree)
}
