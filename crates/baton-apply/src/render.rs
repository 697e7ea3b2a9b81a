//! Rendering: the parameters an environment gives (defaults filled in, secret references
//! resolved), and the files matching the bundle's render globs rendered in place with minijinja,
//! strictly: an undefined value is an error naming the file and line.

use std::{collections::BTreeMap, io::Write, os::unix::fs::PermissionsExt, path::Path};

use baton_model::{BundleConfig, Digest, EnvName, ParamValue, ParamValues, SecretRef};
use serde_json::Value;

use crate::ApplyError;

/// Reads a secret reference: the binary passes a function over the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The values a render uses; the secrets' values are kept apart so every output can mask them.
pub struct Resolved {
    /// Every parameter by name: the environment's value, else the default.
    pub params: BTreeMap<String, Value>,
    /// The values of secret references, to mask wherever text is shown.
    pub secrets: Vec<String>,
}

impl Resolved {
    /// `text` with every secret value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                masked = masked.replace(secret.as_str(), "***");
            }
        }
        masked
    }

    /// True when `text` holds a secret's value.
    pub fn holds_secret(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| !s.is_empty() && text.contains(s.as_str()))
    }
}

/// Fills defaults and resolves references. The values must have passed `ParamValues::check`.
pub(crate) fn resolve(
    values: &ParamValues,
    config: &BundleConfig,
    params_file: &str,
    lookup: EnvLookup<'_>,
) -> Result<Resolved, ApplyError> {
    let mut params = BTreeMap::new();
    let mut secrets = Vec::new();
    for (name, spec) in config.params.specs() {
        let value = match values.values().get(name) {
            Some(ParamValue::Literal(value)) => value.clone(),
            Some(ParamValue::Ref(reference)) => {
                let secret = match reference {
                    SecretRef::FromEnv(var) => lookup(var).ok_or_else(|| ApplyError::Secret {
                        param: name.clone(),
                        file: params_file.to_owned(),
                        message: format!(
                            "environment variable `{var}` is not set in the applier's environment"
                        ),
                    })?,
                    SecretRef::FromFile(path) => fs_err::read_to_string(path)
                        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                        .map_err(|e| ApplyError::Secret {
                            param: name.clone(),
                            file: params_file.to_owned(),
                            message: format!("cannot read `{path}`: {}", e.kind()),
                        })?,
                };
                if spec.secret {
                    secrets.push(secret.clone());
                }
                Value::String(secret)
            }
            None => match &spec.default {
                Some(default) => default.clone(),
                None => continue,
            },
        };
        params.insert(name.clone(), value);
    }
    Ok(Resolved { params, secrets })
}

/// What a render knows about the bundle and environment.
pub(crate) struct RenderContext<'a> {
    /// The environment.
    pub(crate) env: &'a EnvName,
    /// The bundle's config.
    pub(crate) config: &'a BundleConfig,
    /// The manifest digest.
    pub(crate) digest: &'a Digest,
    /// The parameters.
    pub(crate) resolved: &'a Resolved,
}

/// Renders, in place under `root`, every file that matches the config's render globs; returns
/// their paths. A file holding a secret's value is left readable by its owner only (0600).
pub(crate) fn render_tree(
    root: &Path,
    context: &RenderContext<'_>,
) -> Result<Vec<String>, ApplyError> {
    let mut globs = globset::GlobSetBuilder::new();
    for pattern in &context.config.render {
        let glob =
            globset::GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| {
                ApplyError::Render {
                    file: pattern.clone(),
                    line: None,
                    message: format!("bad render glob: {e}"),
                }
            })?;
        globs.add(glob);
    }
    let globs = globs.build().map_err(|e| ApplyError::Render {
        file: String::new(),
        line: None,
        message: e.to_string(),
    })?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(LIMITS.fuel));
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("holds because the default delimiters are valid"),
    );
    let ctx = minijinja::context! {
        params => minijinja::Value::from(minijinja::value::Serde(&context.resolved.params)),
        env => minijinja::context! { name => context.env.as_str() },
        bundle => minijinja::context! {
            name => context.config.name.as_str(),
            version => context.config.version.to_string(),
            digest => context.digest.to_string(),
        },
    };
    let mut rendered = Vec::new();
    let mut total = 0u64;
    for file in &context.config.files {
        if file.kind != baton_model::FileKind::File || !globs.is_match(&file.path) {
            continue;
        }
        let path = root.join(&file.path);
        let source = fs_err::read_to_string(&path).map_err(|e| ApplyError::Render {
            file: file.path.clone(),
            line: None,
            message: format!("cannot read it as UTF-8 text: {e}"),
        })?;
        let limit = LIMITS.file_bytes.min(LIMITS.bundle_bytes - total);
        let mut out = Capped { bytes: Vec::new(), limit, over: false };
        let result = env
            .template_from_named_str(&file.path, &source)
            .and_then(|template| template.render_captured_to(&ctx, &mut out).map(drop));
        if let Err(e) = result {
            let message = if out.over {
                format!(
                    "renders more than {limit} bytes (limits: {} per file, {} per bundle)",
                    LIMITS.file_bytes, LIMITS.bundle_bytes
                )
            } else if e.kind() == minijinja::ErrorKind::OutOfFuel {
                format!(
                    "took more than {} steps to render: a loop that does not end, or one too large for a file",
                    LIMITS.fuel
                )
            } else {
                render_message(&e)
            };
            return Err(ApplyError::Render {
                file: file.path.clone(),
                line: e.line(),
                message: context.resolved.mask(&message),
            });
        }
        total += out.bytes.len() as u64;
        let output = String::from_utf8(out.bytes).expect("holds because minijinja writes text");
        let mode = fs_err::metadata(&path)?.permissions().mode();
        let mode = if context.resolved.holds_secret(&output) { 0o600 } else { mode & 0o777 };
        write_file(&path, output.as_bytes(), mode)?;
        rendered.push(file.path.clone());
    }
    Ok(rendered)
}

/// What rendering may cost, so a hostile template cannot spin or fill the disk: minijinja fuel
/// (instructions) per file, and output bytes per file and per bundle.
struct RenderLimits {
    fuel: u64,
    file_bytes: u64,
    bundle_bytes: u64,
}

const LIMITS: RenderLimits =
    RenderLimits { fuel: 50_000_000, file_bytes: 64 << 20, bundle_bytes: 1 << 30 };

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

fn render_message(error: &minijinja::Error) -> String {
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    message
}

/// Replaces `path` with `bytes` at `mode`: temp file beside it, fsync, rename.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = baton_fs::AtomicFile::create_with_mode(path, mode)?;
    file.write_all(bytes)?;
    file.commit()
}
