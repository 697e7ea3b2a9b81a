//! `apply`: make a target hold what its pin says, by the cheapest complete step: nothing when
//! it already does, a swap back to an intact earlier release, or a new release rendered and
//! handed over.

use std::{path::Path, time::Duration};

use baton_model::{BundleName, Digest, EnvName, Target, TargetId};
use baton_target::{AppliedRecord, Outcome, compare, hash_tree, record_time, tree_digest};
use baton_view::{ReportAction, TargetReport, View};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{
    ApplyError, ApplyOptions,
    exec::run,
    fetch::{KeyUse, Secrets, Staged, fetch_and_render},
    job::{Job, jobs},
    render::Resolved,
    rendering::publish_missing,
    report::{self, check_reporter},
    verify::{Verification, verify_release},
};

/// What an apply (or one agent pass) did for one bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyAction {
    /// The target already held the pin, intact.
    Unchanged,
    /// A new release was rendered and handed over.
    Applied,
    /// An intact earlier release of the same digest and params became current again; nothing
    /// was fetched.
    Swapped,
    /// The target held the pin but had drifted; it was rendered again.
    Healed,
    /// Drift was found and left alone (`agent --no-heal`).
    Drift,
    /// The pinned digest failed its verification here and the target went back to the release
    /// before; the agent does not try it again until the pin changes (`baton apply` does).
    HeldBack,
}

impl ApplyAction {
    /// The word in logs and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyAction::Unchanged => "unchanged",
            ApplyAction::Applied => "applied",
            ApplyAction::Swapped => "swapped",
            ApplyAction::Healed => "healed",
            ApplyAction::Drift => "drift",
            ApplyAction::HeldBack => "held-back",
        }
    }
}

impl std::fmt::Display for ApplyAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `apply` did for one bundle.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Applied {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The digest now applied.
    pub digest: Digest,
    /// Its version.
    pub version: String,
    /// The release.
    pub release: String,
    /// What was done.
    pub action: ApplyAction,
    /// Where.
    pub target: String,
    /// The params digest rendered.
    pub params_digest: Digest,
    /// The digest of the rendered tree.
    pub tree_digest: Digest,
    /// What the target's checks found, when it has checks and the apply changed something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// The environment's published rendering of this pin (`publish = true`): the one the pin
    /// records, or the one this apply published because the pin recorded none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Digest>,
    /// The report the target wrote into the environment's store (with `--target-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Digest>,
}

impl Applied {
    /// What the target reports of this apply, dated `at`.
    pub(crate) fn report(&self, target: &TargetId, at: Timestamp) -> TargetReport {
        let verification = self.verification.as_ref();
        TargetReport {
            environment: self.environment.clone(),
            target: target.clone(),
            bundle: self.bundle.clone(),
            digest: self.digest.clone(),
            params_digest: self.params_digest.clone(),
            tree_digest: self.tree_digest.clone(),
            action: if self.action == ApplyAction::Healed {
                ReportAction::Healed
            } else {
                ReportAction::Applied
            },
            verification: verification.map(|v| v.result),
            checks: verification.map(|v| v.checks.clone()).unwrap_or_default(),
            running: verification
                .and_then(|v| v.rolled_back_to.clone())
                .unwrap_or_else(|| self.digest.clone()),
            at: record_time(at),
            written: at,
        }
    }
}

/// Applies every pinned bundle of `env` (or one) to its target.
pub fn apply(
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<Applied>, ApplyError> {
    check_reporter(view, view.environment(env)?, options)?;
    let mut store = None;
    let mut done = Vec::new();
    for job in jobs(view, env, bundle, options)? {
        let mut applied = apply_one(&job, options, None)?;
        applied.report =
            report::send_applied(&job, options, &mut store, &applied).map_err(|source| {
                ApplyError::Report {
                    env: job.env.name.clone(),
                    bundle: job.pin.bundle.clone(),
                    source: Box::new(source),
                }
            })?;
        done.push(applied);
    }
    Ok(done)
}

/// Applies one bundle. `known_drifted` names a release the caller has just found drifted (the
/// agent's drift check), so that it is not hashed again here.
pub(crate) fn apply_one(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    known_drifted: Option<&str>,
) -> Result<Applied, ApplyError> {
    let home = &job.home;
    let _lock = home.lock()?;
    home.clean_leftovers()?;
    if let Some(aside) = home.move_aside_unlinked_current()? {
        tracing::warn!(target = %home.path.display(), kept = %aside.display(), "`current` was not baton's link: moved it aside and putting the link back");
    }
    let recorded = home.record()?;
    let done = |record: &AppliedRecord, action, verification, published| Applied {
        bundle: job.pin.bundle.clone(),
        environment: job.env.name.clone(),
        digest: record.digest.clone(),
        version: record.version.clone(),
        release: record.release.clone(),
        action,
        target: home.path.display().to_string(),
        params_digest: record.params_digest.clone(),
        tree_digest: record.tree_digest.clone(),
        verification,
        published,
        report: None,
    };
    // Already applied and intact: nothing to do. A drifted release is remembered, so that
    // neither the search for an earlier release nor the new render hashes it a second time.
    let same_pin = recorded
        .as_ref()
        .is_some_and(|r| r.digest == job.pin.digest && r.params_digest == job.pin.params_digest);
    let mut drifted = None;
    if let Some(record) = recorded.as_ref().filter(|_| same_pin) {
        let current_ok =
            !home.linked || home.current_release()?.as_deref() == Some(record.release.as_str());
        // The caller's drift check looked at this very release when `current` names it.
        let known = current_ok && known_drifted == Some(record.release.as_str());
        let intact = !known && home.release_matches(record)?;
        if intact && current_ok {
            return Ok(done(record, ApplyAction::Unchanged, None, job.pin.published.clone()));
        }
        if !intact {
            drifted = Some(record.release.as_str());
        }
    }
    // The target is about to change: the controllers that take the environment's tag get the
    // same rendering first (only a pin made before `publish = true` lacks it).
    let published = publish_missing(job, options)?;
    // An earlier release of the same digest and params still intact: swap back without a fetch.
    if home.linked
        && let Some(record) =
            home.earlier_release(&job.pin.digest, &job.pin.params_digest, drifted)?
    {
        home.switch_current(&record.release)?;
        let record = AppliedRecord { at: record_time((options.clock)()), ..record };
        home.write_record(&record)?;
        let verification = verify_release(job, options, &record, recorded.as_ref(), None)?;
        return Ok(done(&record, ApplyAction::Swapped, verification, published));
    }
    let (record, resolved) = render_release(job, options, drifted)?;
    match &job.env.target {
        Some(Target::Exec { command, check, timeout, .. }) => {
            let dir = home.release(&record.release);
            let limit = Duration::from_secs(timeout.map_or(600, baton_model::Duration::seconds));
            // The log is of this apply's commands only.
            match fs_err::remove_file(home.log_path(&record.release)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(home.io(e).into());
                }
                _ => {}
            }
            if !check.is_empty() {
                run(job, "check", check, &dir, &record, limit, &resolved)?;
            }
            run(job, "command", command, &dir, &record, limit, &resolved)?;
        }
        _ => home.switch_current(&record.release)?,
    }
    home.write_record(&record)?;
    let verification = verify_release(job, options, &record, recorded.as_ref(), Some(&resolved))?;
    if let Some(Target::Dir { keep, .. }) = &job.env.target {
        // After a rollback the release before is current again, and is kept as current.
        let current = match verification.as_ref().and_then(|v| v.rolled_back_to.as_ref()) {
            Some(_) => home.current_release()?.unwrap_or_else(|| record.release.clone()),
            None => record.release.clone(),
        };
        home.prune(&current, *keep)?;
    }
    let action = if same_pin { ApplyAction::Healed } else { ApplyAction::Applied };
    Ok(done(&record, action, verification, published))
}

/// Fetches, verifies, unpacks and renders the pinned bundle into `.releases/<id>`; returns the
/// record of that release (also written beside it as `<id>.json`) and the resolved parameters.
/// `drifted` names a release already known to have drifted: it is not hashed again.
fn render_release(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    drifted: Option<&str>,
) -> Result<(AppliedRecord, Resolved), ApplyError> {
    let home = &job.home;
    let releases = home.releases();
    let Staged { opened, resolved, params_digest, staging, files, secret, .. } =
        fetch_and_render(job, options, &releases, KeyUse::Make, Secrets::Resolve)?;
    let tree = tree_digest(&files);
    let id = format!("{}-{}", job.pin.digest.short(), tree.short());
    let mut release = id.clone();
    let mut reuse = false;
    for n in 2.. {
        let dir = home.release(&release);
        if !dir.exists() {
            break;
        }
        // Same bundle, same rendered bytes, still intact: that release is this one. A drifted
        // one is left for pruning; the new release gets the next free name, so `current` never
        // points at a directory being replaced.
        let intact = drifted != Some(release.as_str())
            && compare(&files, &hash_tree(&dir, &secret).map_err(|e| home.io(e))?).is_empty();
        if intact {
            reuse = true;
            break;
        }
        release = format!("{id}-{n}");
    }
    if reuse {
        drop(staging);
    } else {
        let kept = staging.keep();
        rename_into(&kept, &home.release(&release), &releases).map_err(|e| home.io(e))?;
    }
    let record = AppliedRecord {
        environment: job.env.name.clone(),
        bundle: job.pin.bundle.clone(),
        digest: job.pin.digest.clone(),
        version: opened.config.version.to_string(),
        params_digest,
        tree_digest: tree,
        release,
        files,
        at: record_time((options.clock)()),
        result: Outcome::Ok,
    };
    home.write_release_record(&record)?;
    Ok((record, resolved))
}

fn rename_into(from: &Path, to: &Path, dir: &Path) -> std::io::Result<()> {
    fs_err::rename(from, to)?;
    baton_fs::sync_dir(dir)
}
