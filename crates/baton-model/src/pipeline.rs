//! `baton.toml`: the pipeline. Environments in chain order, each with its store, optional target
//! and optional gates. Unknown keys are errors; every problem names its key and line.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{
    StoreLocation,
    fleet::{ExpectedTargets, OnVerifyFailure, VerifiedRule, VerifyCheck, VerifyChecks},
    name::string_serde,
};

/// The whole `baton.toml`, as written.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "baton.toml",
    description = "The pipeline of a baton state repository: environments in chain order."
)]
pub struct PipelineFile {
    /// The environments, in chain order (dev first, prod last).
    #[serde(rename = "environment")]
    pub environments: Vec<EnvironmentSpec>,
}

/// One `[[environment]]` table.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The environment's name.
    pub name: EnvName,
    /// Where its bundles live: `oci:PATH` (relative to the state repository) or `HOST[:PORT]/PATH`.
    pub store: StoreLocation,
    /// What the applier changes; an environment without one can be promoted to, not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// What must hold before a bundle is promoted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Gates>,
    /// The directory on the applier's machine that `from_file` secrets are read from (an
    /// absolute path); the applier's `--secrets-dir` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_dir: Option<String>,
    /// What rendering a bundle for this environment may cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_limits: Option<RenderLimits>,
    /// The targets expected to apply and report here: their ids (`["web-1", "web-2"]`) or how
    /// many (`4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<ExpectedTargets>,
    /// What a target does when `verify` fails after an apply: `keep` the new release (default)
    /// or `rollback` to the one before (dir targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_verify_failure: Option<OnVerifyFailure>,
    /// How long after a pin an expected target may go without reporting it before `status`
    /// flags it silent and the audit finds it (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_after: Option<Duration>,
    /// Publish the environment's rendering of each bundle promoted here as an OCI artifact for
    /// Flux and Argo CD, in its store, tagged with the environment's name, its digest recorded
    /// in the pin (`true`; default `false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish: bool,
}

/// What rendering may cost, so that a hostile template can neither spin nor fill the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RenderLimits {
    /// Template steps (minijinja fuel) per file.
    pub steps: u64,
    /// Bytes a file may render to.
    pub file_bytes: u64,
    /// Bytes the whole bundle may render to.
    pub bundle_bytes: u64,
}

impl Default for RenderLimits {
    fn default() -> RenderLimits {
        RenderLimits { steps: 50_000_000, file_bytes: 64 << 20, bundle_bytes: 1 << 30 }
    }
}

/// What the applier changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// Releases side by side in a directory, `current` swapped atomically.
    Dir {
        /// The directory, relative to the state repository.
        path: String,
        /// How many releases to keep per bundle.
        #[serde(default = "default_keep")]
        keep: u32,
        /// Checks run after every apply and heal: one table or an array of them.
        #[serde(
            default,
            deserialize_with = "crate::fleet::one_or_many",
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schemars(with = "Option<VerifyChecks>")]
        verify: Vec<VerifyCheck>,
    },
    /// A command run in the rendered directory.
    Exec {
        /// The program and its arguments (an argv list, not a shell string).
        command: Vec<String>,
        /// A command run first; a non-zero exit stops the apply.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        check: Vec<String>,
        /// How long each command may run, for example `10m`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Duration>,
        /// Checks run after every apply and heal: one table or an array of them.
        #[serde(
            default,
            deserialize_with = "crate::fleet::one_or_many",
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schemars(with = "Option<VerifyChecks>")]
        verify: Vec<VerifyCheck>,
    },
}

/// `silent_after` when `baton.toml` gives none: an hour.
pub(crate) const DEFAULT_SILENT_AFTER: i64 = 3600;

fn default_keep() -> u32 {
    5
}

impl Target {
    /// The checks run after every apply and heal.
    pub fn verify(&self) -> &[VerifyCheck] {
        match self {
            Target::Dir { verify, .. } | Target::Exec { verify, .. } => verify,
        }
    }
}

/// The gates of an environment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// The environment a bundle must come from; default: the one before in the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<EnvName>,
    /// How long the digest must have been pinned upstream, for example `2h` or `1d12h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<Duration>,
    /// How many distinct principals, never the promoter, must have approved the digest.
    #[serde(default)]
    pub approvals: u32,
    /// When promotion is allowed, for example `Mon-Fri 09:00-16:00 Europe/Berlin`; any one suffices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
    /// Whether `--break-glass "reason"` may skip the gates here (recorded and always audited).
    #[serde(default)]
    pub break_glass: bool,
    /// Keys named in `.baton/trusted_keys.toml`: the bundle enters only with a valid signature
    /// (cosign's format, over its digest) by one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signed_by: Vec<String>,
    /// The upstream's expected targets that must have reported the digest verified (`"all"` or
    /// a number); `soak` then counts from the verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedRule>,
}

/// An environment, checked and placed in its chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    /// Its name.
    pub name: EnvName,
    /// Its store, as written (a relative `oci:` path is relative to the state repository).
    pub store: StoreLocation,
    /// Its target, if any.
    pub target: Option<Target>,
    /// Its gates (all open when `baton.toml` gives none).
    pub gates: Gates,
    /// Where bundles come from: `gates.upstream`, else the environment before; `None` for the
    /// first entry of a chain.
    pub upstream: Option<EnvName>,
    /// The directory `from_file` secrets are read from, absolute, when `baton.toml` names one.
    pub secrets_dir: Option<std::path::PathBuf>,
    /// What rendering may cost here.
    pub render_limits: RenderLimits,
    /// The targets expected to report here, if declared.
    pub targets: Option<ExpectedTargets>,
    /// What a target does when its verification fails.
    pub on_verify_failure: OnVerifyFailure,
    /// Seconds after a pin an expected target may go without reporting it (`silent_after`).
    pub silent_after: i64,
    /// Whether each promotion publishes the rendering (`publish = true`).
    pub publish: bool,
}

/// The checked pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    environments: Vec<Environment>,
}

/// One problem in a `baton.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineProblem {
    /// 1-based line.
    pub line: usize,
    /// The key, as a path (`environment[2].gates.upstream`).
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Why a `baton.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Not TOML, an unknown key or a wrong type (with line and column).
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// Well-formed, but inconsistent; every problem is listed.
    #[error("{}", .0.iter().map(|p| format!("line {}, `{}`: {}", p.line, p.key, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<PipelineProblem>),
}

/// Only names and their positions, read a second time to point problems at lines.
#[derive(Deserialize)]
struct Positions {
    environment: Vec<EnvPositions>,
}

#[derive(Deserialize)]
struct EnvPositions {
    name: toml::Spanned<String>,
    #[serde(default)]
    gates: Option<GatePositions>,
}

#[derive(Deserialize)]
struct GatePositions {
    #[serde(default)]
    upstream: Option<toml::Spanned<String>>,
}

impl Pipeline {
    /// Parses and checks the text of a `baton.toml`.
    /// (Long because every inconsistency of a pipeline is checked here and named with its key and
    /// line.)
    pub fn from_toml(text: &str) -> Result<Pipeline, PipelineError> {
        let file: PipelineFile = toml::from_str(text)?;
        let positions: Positions = toml::from_str(text)?;
        let line = |span: std::ops::Range<usize>| text[..span.start].matches('\n').count() + 1;
        let mut problems = Vec::new();
        if file.environments.is_empty() {
            problems.push(PipelineProblem {
                line: 1,
                key: "environment".to_owned(),
                message: "no environment is defined: add `[[environment]]` tables in chain order"
                    .to_owned(),
            });
        }
        let mut environments: Vec<Environment> = Vec::new();
        for (i, (spec, pos)) in file.environments.iter().zip(&positions.environment).enumerate() {
            if environments.iter().any(|e| e.name == spec.name) {
                problems.push(PipelineProblem {
                    line: line(pos.name.span()),
                    key: format!("environment[{i}].name"),
                    message: format!(
                        "environment `{}` is defined twice: names must be unique",
                        spec.name
                    ),
                });
            }
            let gates = spec.gates.clone().unwrap_or_default();
            let upstream = match &gates.upstream {
                Some(up) => {
                    let up_line = pos
                        .gates
                        .as_ref()
                        .and_then(|g| g.upstream.as_ref())
                        .map_or_else(|| line(pos.name.span()), |s| line(s.span()));
                    if *up == spec.name {
                        problems.push(PipelineProblem {
                            line: up_line,
                            key: format!("environment[{i}].gates.upstream"),
                            message: format!("environment `{up}` cannot be its own upstream"),
                        });
                    } else if !environments.iter().any(|e| e.name == *up) {
                        let later = file.environments.iter().any(|e| e.name == *up);
                        problems.push(PipelineProblem {
                            line: up_line,
                            key: format!("environment[{i}].gates.upstream"),
                            message: if later {
                                format!(
                                    "upstream `{up}` comes after `{}` in the chain: an upstream must be defined earlier",
                                    spec.name
                                )
                            } else {
                                format!(
                                    "upstream `{up}` is not an environment of this pipeline: define it earlier, or remove `upstream`"
                                )
                            },
                        });
                    }
                    Some(up.clone())
                }
                None => environments.last().map(|e| e.name.clone()),
            };
            if upstream.is_none() && gates.soak.is_some() {
                problems.push(PipelineProblem {
                    line: line(pos.name.span()),
                    key: format!("environment[{i}].gates.soak"),
                    message: format!(
                        "`{}` is the first environment of the chain: there is no upstream to soak in; remove `soak` or name an `upstream`",
                        spec.name
                    ),
                });
            }
            environments.push(Environment {
                name: spec.name.clone(),
                store: spec.store.clone(),
                target: spec.target.clone(),
                gates,
                upstream,
                secrets_dir: spec.secrets_dir.as_ref().map(std::path::PathBuf::from),
                render_limits: spec.render_limits.unwrap_or_default(),
                targets: spec.targets.clone(),
                on_verify_failure: spec.on_verify_failure.unwrap_or_default(),
                silent_after: spec.silent_after.map_or(DEFAULT_SILENT_AFTER, |d| {
                    i64::try_from(d.seconds()).unwrap_or(i64::MAX)
                }),
                publish: spec.publish,
            });
        }
        problems.extend(environments.iter().zip(&positions.environment).enumerate().flat_map(
            |(i, (env, pos))| {
                let at = line(pos.name.span());
                fleet_problems(env, &environments).into_iter().map(move |(key, message)| {
                    PipelineProblem { line: at, key: format!("environment[{i}].{key}"), message }
                })
            },
        ));
        if problems.is_empty() {
            Ok(Pipeline { environments })
        } else {
            Err(PipelineError::Invalid(problems))
        }
    }

    /// A pipeline of no environment: what the audit judges by when no commit of the branch has
    /// a `baton.toml` that parses (every pin is then an orphan).
    pub fn empty() -> Pipeline {
        Pipeline { environments: Vec::new() }
    }

    /// The environments in chain order.
    pub fn environments(&self) -> &[Environment] {
        &self.environments
    }

    /// The environment named `name`.
    pub fn environment(&self, name: &EnvName) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == *name)
    }

    /// The names, in chain order, joined for messages.
    pub fn names(&self) -> String {
        self.environments.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// What is inconsistent about an environment's secrets directory, targets, checks and
/// `verified` gate, as (key, message) pairs.
fn fleet_problems(env: &Environment, all: &[Environment]) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let name = &env.name;
    if let Some(dir) = &env.secrets_dir {
        let dir = dir.to_string_lossy();
        if !crate::values::is_clean_absolute(&dir) {
            problems.push((
                "secrets_dir",
                format!(
                    "`{dir}` must be an absolute path without `.` or `..`, for example `/run/secrets`"
                ),
            ));
        }
    }
    if let Some(expected) = &env.targets {
        if env.target.is_none() {
            problems.push((
                "targets",
                format!(
                    "`{name}` expects targets but has no `target`: add one, or remove `targets`"
                ),
            ));
        }
        match expected {
            ExpectedTargets::Count(0) => problems.push((
                "targets",
                "`targets = 0` expects nothing: remove it, or give the ids or a count".to_owned(),
            )),
            ExpectedTargets::Ids(ids) if ids.is_empty() => problems.push((
                "targets",
                "`targets = []` expects nothing: remove it, or list the target ids".to_owned(),
            )),
            ExpectedTargets::Ids(ids) => {
                for (n, id) in ids.iter().enumerate() {
                    if ids[..n].contains(id) {
                        problems.push(("targets", format!("target `{id}` is listed twice")));
                    }
                }
            }
            ExpectedTargets::Count(_) => {}
        }
    }
    if let Some(target) = &env.target {
        for check in target.verify() {
            if check.command.is_empty() {
                problems.push((
                    "target.verify",
                    format!("a check of `{name}` has an empty `command`: give an argv such as [\"curl\", \"-fsS\", URL]"),
                ));
            }
        }
    }
    if env.on_verify_failure == OnVerifyFailure::Rollback {
        let dir_with_checks =
            matches!(&env.target, Some(t @ Target::Dir { .. }) if !t.verify().is_empty());
        if !dir_with_checks {
            problems.push((
                "on_verify_failure",
                format!(
                    "`rollback` needs a dir target with `verify` checks (an exec target's command cannot be undone by baton): give `{name}` one, or remove `on_verify_failure`"
                ),
            ));
        }
    }
    verified_problems(env, all, &mut problems);
    problems
}

/// What is inconsistent about `gates.verified`: it needs an upstream that lists its targets and
/// gives them checks, and no more verified targets than it expects.
fn verified_problems(
    env: &Environment,
    all: &[Environment],
    problems: &mut Vec<(&'static str, String)>,
) {
    let name = &env.name;
    if let Some(rule) = env.gates.verified {
        let upstream = env.upstream.as_ref().and_then(|up| all.iter().find(|e| e.name == *up));
        match upstream {
            None => problems.push((
                "gates.verified",
                format!("`{name}` has no upstream whose targets could verify: remove `verified`"),
            )),
            Some(up) => match &up.targets {
                None => problems.push((
                    "gates.verified",
                    format!(
                        "the upstream `{}` declares no `targets`: list them there (`targets = [\"web-1\"]` or a count), so that baton knows whose reports count",
                        up.name
                    ),
                )),
                Some(expected) => {
                    if up.target.as_ref().is_none_or(|t| t.verify().is_empty()) {
                        problems.push((
                            "gates.verified",
                            format!(
                                "the upstream `{}` has no `verify` checks on its target: nothing would ever verify there; add `verify = {{ command = [...] }}` to its target",
                                up.name
                            ),
                        ));
                    }
                    if rule.needed(expected) > expected.len() {
                        problems.push((
                            "gates.verified",
                            format!(
                                "asks for {rule} verified targets, but the upstream `{}` expects {}",
                                up.name,
                                expected.len()
                            ),
                        ));
                    }
                }
            },
        }
    }
}

/// An environment name: lowercase letters, digits and `-`, starting with a letter, at most 63
/// characters (it becomes a directory name in the state repository).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EnvName(String);

/// Why a text is not an environment name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "environment name `{0}` is not valid: use lowercase letters, digits and '-', starting with a letter, at most 63 characters"
)]
pub struct EnvNameError(pub String);

impl EnvName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = EnvNameError;

    fn from_str(s: &str) -> Result<EnvName, EnvNameError> {
        let ok = s.len() <= 63
            && s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(EnvName(s.to_owned())) } else { Err(EnvNameError(s.to_owned())) }
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(
    EnvName,
    "EnvName",
    "^[a-z][a-z0-9-]{0,62}$",
    "An environment name: lowercase letters, digits and '-', starting with a letter."
);

/// Who acts: a git identity's e-mail, or what `--as` says. Letters, digits and `._@+-`, at most
/// 128 characters (it becomes a file name under `approvals/`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Principal(String);

/// Why a text is not a principal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "principal `{0}` is not valid: use letters, digits and '.', '_', '@', '+', '-', starting with a letter or digit, at most 128 characters (for example alice@example.com)"
)]
pub struct PrincipalError(pub String);

impl Principal {
    /// The principal as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Principal {
    type Err = PrincipalError;

    fn from_str(s: &str) -> Result<Principal, PrincipalError> {
        let ok = s.len() <= 128
            && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b));
        if ok { Ok(Principal(s.to_owned())) } else { Err(PrincipalError(s.to_owned())) }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(
    Principal,
    "Principal",
    "^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$",
    "Who acted: a git identity's e-mail or the value of --as."
);

/// A length of time written as whole units: `90s`, `45m`, `2h`, `1d12h`, `1w`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Duration(u64);

/// Why a text is not a duration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "duration `{0}` is not valid: write whole numbers with units s, m, h, d or w, largest first (for example `2h`, `90m`, `1d12h`)"
)]
pub struct DurationError(pub String);

impl Duration {
    /// The length in seconds.
    pub fn seconds(self) -> u64 {
        self.0
    }

    /// A duration of `seconds`.
    pub fn from_seconds(seconds: u64) -> Duration {
        Duration(seconds)
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Duration, DurationError> {
        let err = || DurationError(s.to_owned());
        let units = [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
        let mut rest = s;
        let mut total: u64 = 0;
        let mut last_unit = usize::MAX;
        if rest.is_empty() {
            return Err(err());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| err())?;
            let unit = rest[digits..].chars().next().ok_or_else(err)?;
            let index = units.iter().position(|(u, _)| *u == unit).ok_or_else(err)?;
            if last_unit != usize::MAX && index <= last_unit {
                return Err(err());
            }
            last_unit = index;
            total = number
                .checked_mul(units[index].1)
                .and_then(|n| total.checked_add(n))
                .ok_or_else(err)?;
            rest = &rest[digits + 1..];
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, size) in [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

string_serde!(
    Duration,
    "Duration",
    "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
    "A length of time: whole numbers with units w, d, h, m, s, largest first (for example 2h or 1d12h)."
);

/// When promotion is allowed: days of the week, a time range and a time zone, as in
/// `Mon-Fri 09:00-16:00 Europe/Berlin` or `Sat,Sun 22:00-02:00 UTC`. A range that ends before it
/// starts runs over midnight; the day is the day it starts. The zone defaults to UTC.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Window {
    /// Monday first.
    days: [bool; 7],
    /// Minutes after midnight.
    start: u16,
    /// Minutes after midnight.
    end: u16,
    /// An IANA time zone name.
    zone: String,
    text: String,
}

/// Why a text is not a window.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "window `{text}` is not valid: {reason} (write `DAYS HH:MM-HH:MM [ZONE]`, for example `Mon-Fri 09:00-16:00 Europe/Berlin`)"
)]
pub struct WindowError {
    /// The text given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Window {
    /// The IANA zone the times are in.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// True when local time `minute` (after midnight) on `weekday` (0 = Monday) is inside the window.
    pub fn contains(&self, weekday: usize, minute: u16) -> bool {
        let yesterday = (weekday + 6) % 7;
        if self.start < self.end {
            self.days[weekday] && (self.start..self.end).contains(&minute)
        } else {
            (self.days[weekday] && minute >= self.start)
                || (self.days[yesterday] && minute < self.end)
        }
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Window, WindowError> {
        let err = |reason: &str| WindowError { text: s.to_owned(), reason: reason.to_owned() };
        let parts: Vec<&str> = s.split_whitespace().collect();
        let (days_text, times, zone) = match parts.as_slice() {
            [d, t] => (*d, *t, "UTC"),
            [d, t, z] => (*d, *t, *z),
            _ => return Err(err("expected days, a time range and an optional zone")),
        };
        let day = |name: &str| {
            DAY_NAMES
                .iter()
                .position(|d| d.eq_ignore_ascii_case(name))
                .ok_or_else(|| err(&format!("`{name}` is not a day (Mon, Tue, … Sun)")))
        };
        let mut days = [false; 7];
        for item in days_text.split(',') {
            if let Some((a, b)) = item.split_once('-') {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            } else {
                days[day(item)?] = true;
            }
        }
        let minute = |hm: &str| -> Result<u16, WindowError> {
            let bad = || err(&format!("`{hm}` is not a time HH:MM"));
            let (h, m) = hm.split_once(':').ok_or_else(bad)?;
            let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 24 || m > 59 || (h == 24 && m != 0) || hm.len() != 5 {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        let (a, b) = times.split_once('-').ok_or_else(|| err("the time range needs a `-`"))?;
        let (start, end) = (minute(a)?, minute(b)?);
        if start == end {
            return Err(err("the time range is empty"));
        }
        let zone_ok = zone.split('/').all(|c| {
            !c.is_empty()
                && c != ".."
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
        if !zone_ok {
            return Err(err(&format!("`{zone}` is not an IANA time zone name")));
        }
        Ok(Window { days, start, end: end % 1440, zone: zone.to_owned(), text: s.to_owned() })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

string_serde!(
    Window,
    "Window",
    "^\\S+ \\d\\d:\\d\\d-\\d\\d:\\d\\d( \\S+)?$",
    "When promotion is allowed: DAYS HH:MM-HH:MM [ZONE], for example `Mon-Fri 09:00-16:00 Europe/Berlin`."
);

#[cfg(test)]
mod tests;
