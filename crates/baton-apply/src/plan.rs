//! `plan`: render what apply would write into a scratch directory and show how it differs from
//! what the target holds, text files as a unified diff with secrets masked.

use std::path::Path;

use baton_model::{BundleName, Digest, EnvName};
use baton_target::{Differences, Tree, compare, hash_tree};
use baton_view::View;
use serde::{Deserialize, Serialize};

use crate::{
    ApplyError, ApplyOptions,
    fetch::{Staged, fetch_and_render},
    job::jobs,
    render::Resolved,
};

/// What `apply` would change for one bundle.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// The digest pinned.
    pub digest: Digest,
    /// Files added, changed and removed against the current release.
    pub differences: Differences,
    /// A unified diff of the text files, secrets masked.
    pub diff: String,
}

/// Renders into a temporary directory and compares it with the current release.
pub fn plan(
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<Plan>, ApplyError> {
    let mut plans = Vec::new();
    for job in jobs(view, env, bundle, options)? {
        let scratch = tempfile::tempdir()?;
        let Staged { resolved, staging, files: new, .. } =
            fetch_and_render(&job, options, scratch.path())?;
        let current_dir = match job.home.record()? {
            Some(record) => Some(job.home.applied_tree(&record)),
            None if job.home.linked => Some(job.home.path.join("current")),
            None => None,
        };
        let old = match &current_dir {
            Some(dir) if dir.is_dir() => hash_tree(dir).map_err(|e| job.home.read_error(e))?,
            _ => Tree::new(),
        };
        let differences = compare(&old, &new);
        let diff = unified_diff(&differences, current_dir.as_deref(), staging.path(), &resolved);
        plans.push(Plan {
            bundle: job.pin.bundle.clone(),
            environment: job.env.name.clone(),
            digest: job.pin.digest.clone(),
            differences,
            diff,
        });
    }
    Ok(plans)
}

/// Every differing path as a unified diff between `before` and `after`, masked.
fn unified_diff(
    differences: &Differences,
    before: Option<&Path>,
    after: &Path,
    resolved: &Resolved,
) -> String {
    let mut diff = String::new();
    for path in differences.changed.iter().chain(&differences.added).chain(&differences.removed) {
        let read = |dir: Option<&Path>| {
            dir.and_then(|d| fs_err::read(d.join(path)).ok()).map(|b| String::from_utf8(b).ok())
        };
        match (read(before), read(Some(after))) {
            (Some(None), _) | (_, Some(None)) => {
                diff.push_str("Binary file ");
                diff.push_str(path);
                diff.push_str(" differs\n");
            }
            (old, new) => {
                let old = resolved.mask(&old.flatten().unwrap_or_default());
                let new = resolved.mask(&new.flatten().unwrap_or_default());
                let text = similar::TextDiff::from_lines(&old, &new)
                    .unified_diff()
                    .header(&format!("a/{path}"), &format!("b/{path}"))
                    .to_string();
                diff.push_str(&text);
            }
        }
    }
    diff
}
