//! Drift: a target's files re-hashed against its record, and the record against the pin.

use std::path::PathBuf;

use baton_model::{BundleName, Digest, EnvName, StateRecord};
use serde::{Deserialize, Serialize};

use crate::{Differences, Home, TargetError, Tree, compare, hash_tree};

/// What `drift` found for one bundle.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DriftReport {
    /// The bundle.
    pub bundle: BundleName,
    /// The environment.
    pub environment: EnvName,
    /// Where the target keeps this bundle (a dir target's `PATH/NAME`, or the exec target's
    /// directory under the applied dir).
    pub target: PathBuf,
    /// The release the record names.
    pub release: Option<String>,
    /// The digest the record names.
    pub applied: Option<Digest>,
    /// Whether the applied digest and params are the pinned ones.
    pub pinned: bool,
    /// File differences between the target and the record.
    pub differences: Differences,
    /// Nothing was ever applied.
    pub never_applied: bool,
    /// What is wrong with a dir target's `current`, when it is not baton's link to the recorded
    /// release (a directory, say); the next apply puts the link back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

impl DriftReport {
    /// True when the target holds exactly what the pin says.
    pub fn is_clean(&self) -> bool {
        !self.never_applied && self.pinned && self.differences.is_empty() && self.current.is_none()
    }
}

/// Re-hashes the target at `home` against its record, and the record against `pin`; fetches
/// and changes nothing. An unreadable record is an error, never "never applied".
pub fn drift(home: &Home, pin: &StateRecord) -> Result<DriftReport, TargetError> {
    let report = DriftReport {
        bundle: pin.bundle.clone(),
        environment: pin.environment.clone(),
        target: home.path.clone(),
        release: None,
        applied: None,
        pinned: false,
        differences: Differences::default(),
        never_applied: true,
        current: None,
    };
    let Some(record) = home.record()? else { return Ok(report) };
    let current = home.current_problem(&record)?;
    let dir = home.applied_tree(&record);
    let secret = home.secret_files(&record)?;
    let found = if dir.is_dir() {
        hash_tree(&dir, &secret).map_err(|e| home.read_error(e))?
    } else {
        Tree::new()
    };
    Ok(DriftReport {
        pinned: record.digest == pin.digest && record.params_digest == pin.params_digest,
        differences: compare(&record.files, &found),
        applied: Some(record.digest),
        release: Some(record.release),
        never_applied: false,
        current,
        ..report
    })
}
