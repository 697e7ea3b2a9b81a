//! The applied record: what a target was last given (`applied.json`, and `<release>.json`
//! beside each release), written whole or not at all.

use std::path::Path;

use baton_model::{BundleName, Digest, EnvName};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{TargetError, Tree};

/// What is recorded after a successful apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppliedRecord {
    /// The environment.
    pub environment: EnvName,
    /// The bundle.
    pub bundle: BundleName,
    /// The manifest digest applied.
    pub digest: Digest,
    /// Its version.
    pub version: String,
    /// The params file's digest, as in the pin.
    pub params_digest: Digest,
    /// The digest over the rendered tree's listing.
    pub tree_digest: Digest,
    /// The release directory's name.
    pub release: String,
    /// Every rendered file's hash.
    pub files: Tree,
    /// When, to the second.
    pub at: Timestamp,
    /// How it ended.
    pub result: Outcome,
}

/// How an apply ended; only a complete apply is recorded, so there is one outcome today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every file written and handed to the target.
    Ok,
}

/// Reads a record; `None` when there is none, an error naming the file when it is unreadable
/// (an unreadable record never passes for "never applied").
pub fn read_record(path: &Path) -> Result<Option<AppliedRecord>, TargetError> {
    let io = |source| TargetError::Read { path: path.to_owned(), source };
    match fs_err::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| TargetError::BadRecord { path: path.to_owned(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

/// Writes a record as pretty JSON, atomically; 0600 when it names a file whose rendering read
/// a secret.
pub fn write_record(path: &Path, record: &AppliedRecord) -> Result<(), TargetError> {
    let mut bytes =
        serde_json::to_vec_pretty(record).expect("holds because a record serialises to JSON");
    bytes.push(b'\n');
    let written = if record.files.values().any(|f| f.keyed) {
        baton_fs::AtomicFile::create_with_mode(path, 0o600).and_then(|mut file| {
            std::io::Write::write_all(&mut file, &bytes)?;
            file.commit()
        })
    } else {
        baton_fs::write_atomic(path, &bytes)
    };
    written.map_err(|source| TargetError::Write { path: path.to_owned(), source })
}

/// `at` to the second, as records and reports keep it: truncated, never rounded up, so that a
/// report is never dated after the moment it was made (a promotion a moment later must find it
/// dated before).
pub fn record_time(at: Timestamp) -> Timestamp {
    let second =
        jiff::TimestampRound::new().smallest(jiff::Unit::Second).mode(jiff::RoundMode::Trunc);
    at.round(second).unwrap_or(at)
}
