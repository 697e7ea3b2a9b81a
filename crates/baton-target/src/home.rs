//! A target's home: the directory that holds one bundle's `current` link (dir targets),
//! `applied.json`, and every release under `.releases/` with its record beside it.
//!
//! ```text
//! deploy/prod/web/
//!   current -> .releases/5c5116ee868b-0d1f…   (dir targets; swapped by one rename)
//!   applied.json                               (the record of what is applied)
//!   .releases/5c5116ee868b-0d1f…/              (a complete, fsynced release)
//!   .releases/5c5116ee868b-0d1f….json          (its record)
//!   .releases/5c5116ee868b-0d1f….log           (exec targets: what the commands printed, masked)
//!   .lock                                      (held by the apply working here)
//!   .key                                       (0600: the key secret-bearing files are hashed under)
//! ```

use std::path::{Path, PathBuf};

use baton_model::{BundleName, Digest, EnvName, Target};

use crate::{
    AppliedRecord, SecretFiles, TargetError, TargetKey, compare, hash_tree, read_record,
    write_record,
};

/// Where one bundle of one environment lives on a target, and how it is handed over.
#[derive(Clone, Debug)]
pub struct Home {
    /// The directory.
    pub path: PathBuf,
    /// Whether a `current` link names the applied release (dir) or a command ran in it (exec).
    pub linked: bool,
}

impl Home {
    /// The home of `bundle` in `env` with `target`: a dir target's `PATH/NAME` (relative paths
    /// against `root`, the state repository's work tree), or `applied_dir/ENV/NAME` for exec.
    pub fn of(
        target: &Target,
        root: &Path,
        applied_dir: &Path,
        env: &EnvName,
        bundle: &BundleName,
    ) -> Home {
        match target {
            Target::Dir { path, .. } => {
                Home { path: root.join(path).join(bundle.as_str()), linked: true }
            }
            Target::Exec { .. } => {
                Home { path: applied_dir.join(env.as_str()).join(bundle.as_str()), linked: false }
            }
        }
    }

    /// `.releases/`.
    pub fn releases(&self) -> PathBuf {
        self.path.join(".releases")
    }

    /// `.releases/<release>`.
    pub fn release(&self, release: &str) -> PathBuf {
        self.releases().join(release)
    }

    /// `.releases/<release>.log`: what an exec target's commands printed, masked.
    pub fn log_path(&self, release: &str) -> PathBuf {
        self.releases().join(format!("{release}.log"))
    }

    /// `applied.json`.
    pub fn record_path(&self) -> PathBuf {
        self.path.join("applied.json")
    }

    /// What is applied, as recorded.
    pub fn record(&self) -> Result<Option<AppliedRecord>, TargetError> {
        read_record(&self.record_path())
    }

    /// Records `record` as applied (`applied.json`): only once the target took the release.
    pub fn write_record(&self, record: &AppliedRecord) -> Result<(), TargetError> {
        write_record(&self.record_path(), record)
    }

    /// Records a complete release beside it (`.releases/<release>.json`).
    pub fn write_release_record(&self, record: &AppliedRecord) -> Result<(), TargetError> {
        write_record(&self.releases().join(format!("{}.json", record.release)), record)
    }

    /// `.key`.
    pub fn key_path(&self) -> PathBuf {
        self.path.join(".key")
    }

    /// The target's key, made on first need (the applier, under the lock).
    pub fn key(&self) -> Result<TargetKey, TargetError> {
        TargetKey::load_or_create(&self.key_path()).map_err(|e| self.io(e))
    }

    /// The target's key if it has one (readers: plan, drift, the auditor).
    pub fn existing_key(&self) -> Result<Option<TargetKey>, TargetError> {
        TargetKey::load(&self.key_path()).map_err(|e| self.read_error(e))
    }

    /// How to re-hash the files `record` names: its keyed ones under the target's key.
    pub fn secret_files(&self, record: &AppliedRecord) -> Result<SecretFiles, TargetError> {
        let key = if record.files.values().any(|f| f.keyed) { self.existing_key()? } else { None };
        SecretFiles::of(&record.files, key).map_err(|e| self.read_error(e))
    }

    /// Creates `.releases/` and takes the target's lock, or says another apply holds it.
    pub fn lock(&self) -> Result<baton_fs::LockFile, TargetError> {
        fs_err::create_dir_all(self.releases()).map_err(|e| self.io(e))?;
        let lock = self.path.join(".lock");
        baton_fs::LockFile::try_acquire(&lock)
            .map_err(|e| self.io(e))?
            .map_err(|busy| TargetError::Busy { target: self.path.clone(), lock: busy.path })
    }

    /// Removes what an apply killed midway left: staging directories and temporary files and
    /// links. Call it under the lock, so no other apply is using them.
    pub fn clean_leftovers(&self) -> Result<(), TargetError> {
        let releases = self.releases();
        for entry in fs_err::read_dir(&releases).map_err(|e| self.io(e))? {
            let entry = entry.map_err(|e| self.io(e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let gone = if name.starts_with(".staging-") || name.starts_with(".baton-unpack-") {
                fs_err::remove_dir_all(entry.path())
            } else if name.starts_with(baton_fs::TEMP_PREFIX) {
                fs_err::remove_file(entry.path())
            } else {
                Ok(())
            };
            gone.map_err(|e| self.io(e))?;
        }
        for entry in fs_err::read_dir(&self.path).map_err(|e| self.io(e))? {
            let entry = entry.map_err(|e| self.io(e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".current-") || name.starts_with(baton_fs::TEMP_PREFIX) {
                fs_err::remove_file(entry.path()).map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    /// Points `current` at `.releases/<release>`: a new link beside it, renamed over it.
    pub fn switch_current(&self, release: &str) -> Result<(), TargetError> {
        let temp = self.path.join(format!(".current-{}", std::process::id()));
        let _ = fs_err::remove_file(&temp);
        fs_err::os::unix::fs::symlink(Path::new(".releases").join(release), &temp)
            .and_then(|()| fs_err::rename(&temp, self.path.join("current")))
            .and_then(|()| baton_fs::sync_dir(&self.path))
            .map_err(|e| self.io(e))
    }

    /// What is wrong with `current` for `record`, if anything: not a link (a directory or file
    /// put there by hand), or a link to another release. `None` for exec targets.
    pub fn current_problem(&self, record: &AppliedRecord) -> Result<Option<String>, TargetError> {
        if !self.linked {
            return Ok(None);
        }
        let current = self.path.join("current");
        let meta = match fs_err::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some("`current` is missing: `baton apply` puts the link back".into()));
            }
            Err(e) => return Err(self.read_error(e)),
        };
        if !meta.file_type().is_symlink() {
            let what = if meta.is_dir() { "a directory" } else { "a file" };
            return Ok(Some(format!(
                "`current` is {what}, not baton's link to release {}: `baton apply` (or the agent) moves it aside into .releases/ and puts the link back",
                record.release
            )));
        }
        Ok(match self.current_release()? {
            Some(release) if release == record.release => None,
            other => Some(format!(
                "`current` points at {}, not at the recorded release {}: `baton apply` points it back",
                other.as_deref().unwrap_or("nothing"),
                record.release
            )),
        })
    }

    /// Moves a `current` that is not a link (a directory or file put there by hand) aside, to
    /// `.releases/.replaced-<seconds>`, so that the link can take its place; returns where it
    /// went. Nothing of it is deleted.
    pub fn move_aside_unlinked_current(&self) -> Result<Option<PathBuf>, TargetError> {
        let current = self.path.join("current");
        match fs_err::symlink_metadata(&current) {
            Ok(meta) if !meta.file_type().is_symlink() => {
                let seconds = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside =
                    self.releases().join(format!(".replaced-{seconds}-{}", std::process::id()));
                fs_err::rename(&current, &aside)
                    .and_then(|()| baton_fs::sync_dir(&self.path))
                    .map_err(|e| self.io(e))?;
                Ok(Some(aside))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.read_error(e)),
        }
    }

    /// The release `current` points at.
    pub fn current_release(&self) -> Result<Option<String>, TargetError> {
        match fs_err::read_link(self.path.join("current")) {
            Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.read_error(e)),
        }
    }

    /// True when the release of `record` holds exactly the files it records.
    pub fn release_matches(&self, record: &AppliedRecord) -> Result<bool, TargetError> {
        let dir = self.release(&record.release);
        if !dir.is_dir() {
            return Ok(false);
        }
        let secret = self.secret_files(record)?;
        let found = hash_tree(&dir, &secret).map_err(|e| self.read_error(e))?;
        Ok(compare(&record.files, &found).is_empty())
    }

    /// An intact earlier release of `digest` with `params_digest`, other than `skip`.
    pub fn earlier_release(
        &self,
        digest: &Digest,
        params_digest: &Digest,
        skip: Option<&str>,
    ) -> Result<Option<AppliedRecord>, TargetError> {
        let prefix = format!("{}-", digest.short());
        let releases = self.releases();
        for entry in fs_err::read_dir(&releases).map_err(|e| self.io(e))? {
            let name = entry.map_err(|e| self.io(e))?.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else { continue };
            if !id.starts_with(&prefix) || Some(id) == skip {
                continue;
            }
            // A record beside a release that does not read is no candidate: the release is
            // rendered anew instead.
            let Ok(Some(record)) = read_record(&releases.join(&name)) else { continue };
            if record.digest == *digest
                && record.params_digest == *params_digest
                && self.release_matches(&record)?
            {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Keeps the `keep` newest releases (and always `current`).
    pub fn prune(&self, current: &str, keep: u32) -> Result<(), TargetError> {
        let releases = self.releases();
        let mut dirs: Vec<(std::time::SystemTime, String)> = Vec::new();
        for entry in fs_err::read_dir(&releases).map_err(|e| self.io(e))? {
            let entry = entry.map_err(|e| self.io(e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().map_err(|e| self.io(e))?.is_dir();
            if name.starts_with('.') || name == current || !is_dir {
                continue;
            }
            let modified = fs_err::metadata(releases.join(&name).with_extension("json"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            dirs.push((modified, name));
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
        for (_, name) in dirs.into_iter().skip(keep.saturating_sub(1) as usize) {
            fs_err::remove_dir_all(releases.join(&name)).map_err(|e| self.io(e))?;
            let _ = fs_err::remove_file(releases.join(format!("{name}.json")));
            let _ = fs_err::remove_file(self.log_path(&name));
        }
        Ok(())
    }

    /// Where the files of what `record` applied are: what `current` points at, or the release
    /// an exec target ran in.
    pub fn applied_tree(&self, record: &AppliedRecord) -> PathBuf {
        if self.linked { self.path.join("current") } else { self.release(&record.release) }
    }

    /// A failed write at this target.
    pub fn io(&self, source: std::io::Error) -> TargetError {
        TargetError::Write { path: self.path.clone(), source }
    }

    /// A failed read at this target.
    pub fn read_error(&self, source: std::io::Error) -> TargetError {
        TargetError::Read { path: self.path.clone(), source }
    }
}
