//! Rendering: the parameters an environment gives (defaults filled in, secret references
//! resolved), and the files matching the bundle's render globs rendered in place with minijinja,
//! strictly: an undefined value is an error naming the file and line.
//!
//! A secret is read only through a reference of a parameter declared `secret = true`: from the
//! applier's environment, or from a file below the secrets directory, opened so that neither
//! `..` nor a symbolic link leads out of it. Every read of a secret parameter while a file
//! renders (through any expression, filter or slice) marks that file secret: it is written 0600,
//! hashed under the target's key, and never shown in a diff.

use std::{collections::BTreeSet, io::Read, path::Path};

use baton_bundle::template::{self, RenderFailure, RenderedTree, Renderer, TreeError, Values};

use baton_model::{
    BundleConfig, ConfinedFile, Digest, EnvName, ParamValue, ParamValues, SecretRef,
};
use serde_json::Value;

use crate::ApplyError;

/// Reads a secret reference: the binary passes a function over the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The shortest secret the applier accepts: masking a shorter one would mangle every output
/// that happens to hold those few characters, and so point at them.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// The largest secret file the applier reads.
const MAX_SECRET_FILE: u64 = 64 << 10;

/// The values a render uses; the secrets' values are kept apart so every output can mask them.
pub struct Resolved {
    /// Every parameter by name (the environment's value, else the default), and which are
    /// secret.
    pub values: Values,
    masker: Masker,
}

impl Resolved {
    /// `text` with every secret value replaced by `***`: each whole value (with LF and CR/LF
    /// line ends), and each line of eight characters or more of a multi-line value, the longest
    /// match first. Mask before any cut or split, so no cut can take a secret out of its mask.
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text)
    }

    /// The length in bytes of the longest text the mask replaces (0 when there is no secret).
    pub fn longest_secret(&self) -> usize {
        self.masker.longest
    }

    /// True when `text` holds a secret's value.
    fn holds_secret(&self, text: &str) -> bool {
        self.masker.finder.as_ref().is_some_and(|f| f.is_match(text))
    }
}

/// Finds every form of every secret in one pass.
struct Masker {
    finder: Option<aho_corasick::AhoCorasick>,
    count: usize,
    longest: usize,
}

impl Masker {
    fn new(secrets: &[String]) -> Masker {
        let mut needles = BTreeSet::new();
        for secret in secrets {
            let lf = secret.replace("\r\n", "\n");
            needles.insert(lf.replace('\n', "\r\n"));
            for line in lf.split('\n').map(|l| l.trim_end_matches('\r')) {
                if line.chars().count() >= MIN_SECRET_LEN {
                    needles.insert(line.to_owned());
                }
            }
            needles.insert(lf);
            needles.insert(secret.clone());
        }
        needles.retain(|n| !n.is_empty());
        let longest = needles.iter().map(String::len).max().unwrap_or(0);
        let finder = (!needles.is_empty()).then(|| {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&needles)
                .expect("holds because a few secrets make a small automaton")
        });
        Masker { finder, count: needles.len(), longest }
    }

    fn mask(&self, text: &str) -> String {
        match &self.finder {
            Some(finder) => finder.replace_all(text, &vec!["***"; self.count]),
            None => text.to_owned(),
        }
    }
}

/// Where `from_file` secrets are read: the directory baton.toml names for the environment, and
/// the one the applier was given (`--secrets-dir`), which wins.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SecretsDir<'a> {
    pub(crate) declared: Option<&'a Path>,
    pub(crate) given: Option<&'a Path>,
    /// Secrets are not read at all: each renders as its typed placeholder (`baton render`
    /// without `--with-secrets`, `publish`).
    pub(crate) placeholders: bool,
}

/// Fills defaults and resolves references (or, when asked, puts placeholders in secrets'
/// places). The values must have passed `ParamValues::check`.
pub(crate) fn resolve(
    values: &ParamValues,
    config: &BundleConfig,
    params_file: &str,
    lookup: EnvLookup<'_>,
    secrets_dir: SecretsDir<'_>,
) -> Result<Resolved, ApplyError> {
    if secrets_dir.placeholders {
        // A placeholder is no secret: reading it marks no file (0644 stays, its hash is plain).
        let mut values = Values::with_placeholders(values, &config.params);
        values.secret.clear();
        return Ok(Resolved { values, masker: Masker::new(&[]) });
    }
    let mut params = std::collections::BTreeMap::new();
    let mut secrets = Vec::new();
    let mut secret_names = BTreeSet::new();
    for (name, spec) in config.params.specs() {
        let fail = |message: String| ApplyError::Secret {
            param: name.clone(),
            file: params_file.to_owned(),
            message,
        };
        let value = match values.values().get(name) {
            Some(ParamValue::Literal(value)) => value.clone(),
            // `ParamValues::check` refused references for parameters not declared secret; this
            // keeps it so whatever the caller checked.
            Some(ParamValue::Ref(_)) if !spec.secret => {
                return Err(fail(
                    "is a reference, but only a parameter declared `secret = true` in bundle.toml may be read from the environment or a file".into(),
                ));
            }
            Some(ParamValue::Ref(reference)) => {
                let secret = match reference {
                    SecretRef::FromEnv(var) => lookup(var).ok_or_else(|| {
                        fail(format!(
                            "environment variable `{var}` is not set in the applier's environment"
                        ))
                    })?,
                    SecretRef::FromFile(path) => {
                        let dir = secrets_dir.given.or(secrets_dir.declared);
                        let file = baton_model::confine(path, secrets_dir.declared, dir)
                            .map_err(&fail)?
                            .ok_or_else(|| {
                                fail(format!(
                                    "reads `{path}` from the secrets directory, but there is none: set `secrets_dir` for the environment in baton.toml, or pass `--secrets-dir DIR`"
                                ))
                            })?;
                        read_secret_file(&file).map_err(|e| {
                            fail(format!(
                                "cannot read `{}` in the secrets directory `{}`: {e}",
                                file.below.display(),
                                file.dir.display()
                            ))
                        })?
                    }
                };
                if secret.chars().count() < MIN_SECRET_LEN {
                    return Err(fail(format!(
                        "the secret is shorter than {MIN_SECRET_LEN} characters: baton refuses it, since masking so short a value would mangle output and point at it; use a longer secret"
                    )));
                }
                secrets.push(secret.clone());
                secret_names.insert(name.clone());
                Value::String(secret)
            }
            None => match &spec.default {
                Some(default) => default.clone(),
                None => continue,
            },
        };
        params.insert(name.clone(), value);
    }
    Ok(Resolved { values: Values { params, secret: secret_names }, masker: Masker::new(&secrets) })
}

/// Reads a secret file below its directory: opened beneath the directory (no `..` and no
/// symbolic link may lead out of it; links inside it, as Kubernetes' secret volumes use, are
/// followed), a regular file of at most 64 KiB of UTF-8 text, its trailing line end dropped.
fn read_secret_file(file: &ConfinedFile) -> std::io::Result<String> {
    let mut opened = baton_fs::open_beneath(&file.dir, &file.below, baton_fs::Links::Inside)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied && e.get_ref().is_some() {
                std::io::Error::other("it leads out of the secrets directory (a symbolic link)")
            } else {
                e
            }
        })?;
    if !opened.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    (&mut opened).take(MAX_SECRET_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(std::io::Error::other(format!("it is larger than {MAX_SECRET_FILE} bytes")));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| std::io::Error::other("it is not UTF-8 text"))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
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
    /// What rendering may cost (the environment's `render_limits`).
    pub(crate) limits: baton_model::RenderLimits,
}

/// Renders, in place under `root`, every file that matches the config's render globs. A file
/// whose rendering read a secret is left readable by its owner only (0600).
pub(crate) fn render_tree(
    root: &Path,
    context: &RenderContext<'_>,
) -> Result<RenderedTree, ApplyError> {
    let failed = |f: RenderFailure| ApplyError::Render {
        file: f.file,
        line: f.line,
        message: context.resolved.mask(&f.message),
    };
    let mut templates = Renderer::new(
        context.config,
        context.digest,
        context.env,
        &context.resolved.values,
        context.limits,
    )
    .map_err(failed)?;
    let holds_secret = |text: &str| context.resolved.holds_secret(text);
    template::render_tree(root, context.config, &mut templates, &holds_secret).map_err(
        |e| match e {
            TreeError::Render(f) => failed(f),
            TreeError::Io(e) => e.into(),
        },
    )
}
