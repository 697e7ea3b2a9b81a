//! `plan`: render what apply would write into a scratch directory and show how it differs from
//! what the target holds, text files as a unified diff with secrets masked. A file whose
//! rendering read a secret (now, or in the applied release) is named as changed, its content
//! hidden.

use std::{collections::BTreeSet, path::Path};

use baton_model::{BundleName, Digest, EnvName};
use baton_target::{Differences, SecretFiles, Tree, compare, hash_tree};
use baton_view::View;
use serde::{Deserialize, Serialize};

use crate::{
    ApplyError, ApplyOptions,
    fetch::{KeyUse, Secrets, Staged, fetch_and_render},
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
    /// A unified diff of the text files, secrets masked; files that read a secret are only named.
    pub diff: String,
    /// The differing files whose rendering read a secret: named, never shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
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
        let Staged { resolved, staging, files: new, secret, .. } =
            fetch_and_render(&job, options, scratch.path(), KeyUse::ReadOnly, Secrets::Resolve)?;
        let record = job.home.record()?;
        let (current_dir, was_secret) = match &record {
            Some(record) => (Some(job.home.applied_tree(record)), job.home.secret_files(record)?),
            None if job.home.linked => (Some(job.home.path.join("current")), SecretFiles::none()),
            None => (None, SecretFiles::none()),
        };
        let old = match &current_dir {
            Some(dir) if dir.is_dir() => {
                hash_tree(dir, &was_secret).map_err(|e| job.home.read_error(e))?
            }
            _ => Tree::new(),
        };
        let differences = compare(&old, &new);
        let secret: BTreeSet<&String> = secret.paths().iter().chain(was_secret.paths()).collect();
        let diff =
            unified_diff(&differences, current_dir.as_deref(), staging.path(), &resolved, &secret);
        let hidden = differences
            .changed
            .iter()
            .chain(&differences.added)
            .chain(&differences.removed)
            .filter(|p| secret.contains(p))
            .cloned()
            .collect();
        plans.push(Plan {
            bundle: job.pin.bundle.clone(),
            environment: job.env.name.clone(),
            digest: job.pin.digest.clone(),
            differences,
            diff,
            hidden,
        });
    }
    Ok(plans)
}

/// The largest file `plan` shows as a diff; a larger one is named as differing.
const DIFF_LIMIT: u64 = 8 << 20;

/// A regular file's bytes below `dir`, read through no symbolic link and at most
/// [`DIFF_LIMIT`]; `None` for a link, anything else, or a file too large (shown as differing).
fn read_for_diff(dir: &Path, path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut file = baton_fs::open_beneath(dir, Path::new(path), baton_fs::Links::Never).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    (&mut file).take(DIFF_LIMIT + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= DIFF_LIMIT).then_some(bytes)
}

/// Every differing path as a unified diff between `before` and `after`, masked.
fn unified_diff(
    differences: &Differences,
    before: Option<&Path>,
    after: &Path,
    resolved: &Resolved,
    secret: &BTreeSet<&String>,
) -> String {
    let mut diff = String::new();
    for path in differences.changed.iter().chain(&differences.added).chain(&differences.removed) {
        if secret.contains(path) {
            diff.push_str("Secret file ");
            diff.push_str(path);
            diff.push_str(" differs (content hidden)\n");
            continue;
        }
        // Read beneath the directory, following no link: a target's link is shown as a link,
        // never as the content of whatever it points at.
        let read = |dir: Option<&Path>| {
            dir.and_then(|d| read_for_diff(d, path)).map(|b| String::from_utf8(b).ok())
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
