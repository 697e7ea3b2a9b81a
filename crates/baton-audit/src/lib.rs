//! The auditor: walks the state repository's whole history and the environments' stores (and,
//! when asked, their targets), with read access only, and reports every place where what is
//! pinned is not explained by a well-formed baton promotion of bytes that passed the chain.
//!
//! ```text
//! let view = View::open(StateRepo::discover(Path::new("."))?)?;
//! let report = audit(&view, &Scope::default(), &Options { registry: &registry, targets: None, at: jiff::Timestamp::now() })?;
//! for finding in &report.findings { … }   // exit 4 when any is an error
//! std::fs::write("audit.html", html(&report))?;
//! ```
#![warn(missing_docs)]

mod html;
mod present;
mod report;

use std::collections::HashMap;

use baton_model::{BundleName, EnvName};
use baton_store::RegistryOptions;
use baton_view::{View, ViewError, judge};

pub use html::html;
pub use report::{
    ApprovalEvidence, Check, Event, Finding, Report, Severity, Verdict, report_schema,
};

/// What to audit.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Only this environment.
    pub env: Option<EnvName>,
    /// Only this bundle.
    pub bundle: Option<BundleName>,
    /// Only findings of commits at or after this time (seconds since the epoch); earlier
    /// history is still read, since the chain and the gates depend on it.
    pub since: Option<i64>,
    /// Re-hash every digest ever pinned, not only the current pins.
    pub deep: bool,
}

impl Scope {
    fn covers(&self, env: &EnvName, bundle: &BundleName) -> bool {
        self.env.as_ref().is_none_or(|e| e == env)
            && self.bundle.as_ref().is_none_or(|b| b == bundle)
    }

    /// The part of the history the judge reports.
    fn history(&self) -> judge::Scope {
        judge::Scope { env: self.env.clone(), bundle: self.bundle.clone(), since: self.since }
    }
}

/// How the audit reaches stores and targets.
pub struct Options<'a> {
    /// How registries are reached.
    pub registry: &'a RegistryOptions,
    /// Check the targets reachable from here (`--targets`): the applier's directory of exec
    /// targets' releases and records.
    pub targets: Option<std::path::PathBuf>,
    /// Now: the instant the report is dated.
    pub at: jiff::Timestamp,
}

/// Why the audit could not run (a finding is not an error).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The state repository could not be read.
    #[error(transparent)]
    State(#[from] ViewError),
    /// A git read failed.
    #[error(transparent)]
    Git(#[from] baton_state::StateError),
}

/// Audits the history and the present of the state repository read by `view`.
pub fn audit(view: &View, scope: &Scope, options: &Options<'_>) -> Result<Report, AuditError> {
    let tip = view.snapshot.commit.expect("holds because View::open requires a commit");
    let mut history = judge::walk(view, &scope.history())?;
    let mut findings = std::mem::take(&mut history.findings);
    if let Some(problem) = &view.broken_pipeline {
        findings.insert(0, Finding {
            severity: Severity::Error,
            check: Check::Pipeline,
            environment: None,
            bundle: None,
            commit: Some(tip.to_string()),
            expected: "a baton.toml at the head of the branch that parses".into(),
            found: format!(
                "{problem}; nothing can be promoted or applied until it is fixed (this audit judged by the last baton.toml of the branch that parsed)"
            ),
        });
    }
    present::reflog(view, &history, &mut findings)?;
    let pins = present::pins(view, scope, &mut findings)?;
    present::params(view, &pins, &mut findings)?;
    let bundles_verified =
        present::stores(view, &pins, &history, scope.deep, options.registry, &mut findings);
    let attestations =
        present::evidence(view, &pins, &history, scope.deep, options.registry, &mut findings)?;
    present::running(view, &pins, options.registry, options.at, &mut findings);
    if let Some(targets) = &options.targets {
        present::targets(view, scope, targets, &mut findings)?;
    }
    let mut errors: HashMap<(&EnvName, &BundleName), usize> = HashMap::new();
    for f in findings.iter().filter(|f| f.severity == Severity::Error) {
        if let (Some(env), Some(bundle)) = (&f.environment, &f.bundle) {
            *errors.entry((env, bundle)).or_default() += 1;
        }
    }
    let summary = pins
        .iter()
        .map(|(env, pin)| Verdict {
            findings: errors.get(&(env, &pin.bundle)).copied().unwrap_or(0),
            environment: env.clone(),
            bundle: pin.bundle.clone(),
            digest: pin.digest.clone(),
            version: pin.version.to_string(),
        })
        .collect();
    Ok(Report {
        commit: tip.to_string(),
        branch: view.repo.branch(),
        at: options.at,
        commits: history.commits,
        bundles_verified,
        deep: scope.deep,
        targets: options.targets.is_some(),
        findings,
        timeline: history.timeline,
        summary,
        attestations,
    })
}
