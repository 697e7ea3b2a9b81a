//! apply, plan and drift for one environment: fetch the pinned bundle into the cache (verified),
//! unpack and render it into a new release, hand it to the target, record what was applied.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use baton_bundle::{Limits, Opened, UnpackError, open_bundle, unpack};
use baton_model::{BundleName, Digest, EnvName, Environment, Selector, StateRecord, Target};
use baton_store::{LayoutStore, Progress, RegistryOptions, Store, copy};
use baton_view::View;
use serde::{Deserialize, Serialize};

use crate::{
    ApplyError,
    render::{EnvLookup, RenderContext, Resolved, render_tree, resolve},
    tree::{Differences, Tree, compare, hash_tree, tree_digest, tree_of_release},
};

/// What the applier needs besides the state repository.
pub struct ApplyOptions<'a> {
    /// The content-addressed cache of fetched bundles (an OCI layout store).
    pub cache: PathBuf,
    /// Where exec targets keep their rendered releases and applied records.
    pub applied_dir: PathBuf,
    /// How registries are reached.
    pub registry: &'a RegistryOptions,
    /// Reads environment variables for `from_env` references.
    pub lookup: EnvLookup<'a>,
    /// Transfer progress.
    pub progress: &'a Progress,
}

/// What is recorded after a successful apply (`applied.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// When (RFC 3339, UTC).
    pub at: String,
    /// `ok`.
    pub result: String,
}

/// What `apply` did for one bundle.
#[derive(Clone, Debug, Serialize)]
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
    /// `applied` (a new release), `swapped` (an earlier release, no fetch), `healed` (drift
    /// repaired), `unchanged`.
    pub action: String,
    /// Where.
    pub target: String,
}

/// A bundle of an environment with everything needed to apply it.
struct Job<'v> {
    view: &'v View,
    env: Environment,
    bundle: BundleName,
    pin: StateRecord,
    /// The directory holding `current`, `applied.json` and `.releases/` of this bundle.
    home: PathBuf,
}

/// The bundles to act on: one, or every bundle pinned in the environment.
fn jobs<'v>(
    view: &'v View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<Job<'v>>, ApplyError> {
    let env = view.environment(env)?.clone();
    let Some(target) = env.target.clone() else {
        return Err(ApplyError::NoTarget { env: env.name.clone() });
    };
    let pins = match bundle {
        Some(bundle) => vec![view.pin(&env.name, bundle)?.ok_or_else(|| {
            ApplyError::NotPinned { env: env.name.clone(), bundle: bundle.clone() }
        })?],
        None => view.pins_in(&env.name)?,
    };
    if pins.is_empty() {
        return Err(ApplyError::NothingPinned { env: env.name.clone() });
    }
    Ok(pins
        .into_iter()
        .map(|pin| {
            let home = match &target {
                Target::Dir { path, .. } => {
                    view.repo.paths_root().join(path).join(pin.bundle.as_str())
                }
                Target::Exec { .. } => {
                    options.applied_dir.join(env.name.as_str()).join(pin.bundle.as_str())
                }
            };
            Job { view, env: env.clone(), bundle: pin.bundle.clone(), pin, home }
        })
        .collect())
}

/// Applies every pinned bundle of `env` (or one) to its target.
pub fn apply(
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<Applied>, ApplyError> {
    jobs(view, env, bundle, options)?.iter().map(|job| apply_one(job, options, None)).collect()
}

/// Applies one bundle. `known_drifted` names a release the caller has just found drifted (the
/// agent's drift check), so that it is not hashed again here.
fn apply_one(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    known_drifted: Option<&str>,
) -> Result<Applied, ApplyError> {
    let releases = job.home.join(".releases");
    fs_err::create_dir_all(&releases)
        .map_err(|e| ApplyError::Target { path: job.home.clone(), source: e })?;
    let _lock = lock(&job.home)?;
    clean_leftovers(&job.home, &releases)?;
    let recorded = read_record(&job.home)?;
    let done = |record: &AppliedRecord, action: &str| Applied {
        bundle: job.bundle.clone(),
        environment: job.env.name.clone(),
        digest: record.digest.clone(),
        version: record.version.clone(),
        release: record.release.clone(),
        action: action.to_owned(),
        target: job.home.display().to_string(),
    };
    let is_exec = matches!(job.env.target, Some(Target::Exec { .. }));
    // Already applied and intact: nothing to do. A drifted release is remembered, so that
    // neither the search for an earlier release nor the new render hashes it a second time.
    let same_pin = recorded
        .as_ref()
        .is_some_and(|r| r.digest == job.pin.digest && r.params_digest == job.pin.params_digest);
    let mut drifted = None;
    if let Some(record) = recorded.as_ref().filter(|_| same_pin) {
        let current_ok =
            is_exec || current_release(&job.home)?.as_deref() == Some(record.release.as_str());
        // The caller's drift check looked at this very release when `current` names it.
        let known = current_ok && known_drifted == Some(record.release.as_str());
        let intact = !known && release_matches(&releases.join(&record.release), record)?;
        if intact && current_ok {
            return Ok(done(record, "unchanged"));
        }
        if !intact {
            drifted = Some(record.release.as_str());
        }
    }
    // An earlier release of the same digest and params still intact: swap back without a fetch.
    if !is_exec && let Some(record) = earlier_release(&releases, &job.pin, drifted)? {
        switch_current(&job.home, &record.release)?;
        let record = AppliedRecord { at: now(), ..record };
        write_json(&job.home.join("applied.json"), &record)?;
        return Ok(done(&record, "swapped"));
    }
    let (record, resolved) = render_release(job, options, &releases, drifted)?;
    match &job.env.target {
        Some(Target::Exec { command, check, timeout }) => {
            let dir = releases.join(&record.release);
            let limit = Duration::from_secs(timeout.map_or(600, baton_model::Duration::seconds));
            if !check.is_empty() {
                run(job, "check", check, &dir, &record, limit, &resolved)?;
            }
            run(job, "command", command, &dir, &record, limit, &resolved)?;
        }
        _ => switch_current(&job.home, &record.release)?,
    }
    write_json(&job.home.join("applied.json"), &record)?;
    if let Some(Target::Dir { keep, .. }) = &job.env.target {
        prune(&releases, &record.release, *keep)?;
    }
    Ok(done(&record, if same_pin { "healed" } else { "applied" }))
}

/// Fetches, verifies, unpacks and renders the pinned bundle into `.releases/<id>`; returns the
/// record of that release (also written beside it as `<id>.json`) and the resolved parameters.
/// `drifted` names a release already known to have drifted: it is not hashed again.
fn render_release(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    releases: &Path,
    drifted: Option<&str>,
) -> Result<(AppliedRecord, Resolved), ApplyError> {
    let Staged { opened, resolved, params_digest, staging, files } =
        fetch_and_render(job, options, releases)?;
    let tree = tree_digest(&files);
    let id = format!("{}-{}", job.pin.digest.short(), tree.short());
    let mut release = id.clone();
    let mut reuse = false;
    for n in 2.. {
        let dir = releases.join(&release);
        if !dir.exists() {
            break;
        }
        // Same bundle, same rendered bytes, still intact: that release is this one. A drifted
        // one is left for pruning; the new release gets the next free name, so `current` never
        // points at a directory being replaced.
        let intact =
            drifted != Some(release.as_str()) && compare(&files, &hash_tree(&dir)?).is_empty();
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
        fs_err::rename(&kept, releases.join(&release))?;
        baton_fs::sync_dir(releases)?;
    }
    let record = AppliedRecord {
        environment: job.env.name.clone(),
        bundle: job.bundle.clone(),
        digest: job.pin.digest.clone(),
        version: opened.config.version.to_string(),
        params_digest,
        tree_digest: tree,
        release: release.clone(),
        files,
        at: now(),
        result: "ok".into(),
    };
    write_json(&releases.join(format!("{release}.json")), &record)?;
    Ok((record, resolved))
}

/// A bundle fetched, verified, unpacked and rendered into a staging directory.
struct Staged {
    opened: Opened,
    resolved: Resolved,
    /// The params file's digest, as checked against the bundle's schema.
    params_digest: Digest,
    staging: tempfile::TempDir,
    /// The rendered tree, from the verified index with only the rendered files hashed.
    files: Tree,
}

/// Fetches and unpacks the pinned bundle into a staging directory under `under`, and renders it.
fn fetch_and_render(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    under: &Path,
) -> Result<Staged, ApplyError> {
    let (opened, resolved, params_digest, staging) = fetch_and_unpack(job, options, under)?;
    let context = RenderContext {
        env: &job.env.name,
        config: &opened.config,
        digest: &job.pin.digest,
        resolved: &resolved,
    };
    let rendered = render_tree(staging.path(), &context)?;
    let files = tree_of_release(staging.path(), &opened.config.files, &rendered)?;
    Ok(Staged { opened, resolved, params_digest, staging, files })
}

type Unpacked = (Opened, Resolved, Digest, tempfile::TempDir);

/// Copies the bundle into the cache, opens it, checks and resolves params, unpacks the layer
/// (verified) into a staging directory under `releases`. A cached blob that fails verification
/// is removed and fetched again, once.
fn fetch_and_unpack(
    job: &Job<'_>,
    options: &ApplyOptions<'_>,
    releases: &Path,
) -> Result<Unpacked, ApplyError> {
    let store = job.view.open_store(&job.env, options.registry)?;
    let cache = Store::Layout(LayoutStore::new(options.cache.clone()));
    let digest = &job.pin.digest;
    for attempt in 0..2 {
        store.resolve(&job.bundle, &Selector::Digest(digest.clone())).map_err(|e| {
            ApplyError::State(baton_view::ViewError::NotInStore {
                bundle: job.bundle.clone(),
                digest: digest.clone(),
                store: store.label(),
                source: Box::new(e),
            })
        })?;
        copy(&store, &job.bundle, digest, &cache, None, options.progress)?;
        let blobs = cache.blobs(&job.bundle);
        let opened = match open_bundle(blobs.as_ref(), digest) {
            Ok(opened) => opened,
            Err(baton_bundle::OpenError::Findings(findings)) if attempt == 0 => {
                tracing::warn!(bundle = %job.bundle, %digest, ?findings, "cached bundle is damaged; fetching it again");
                forget(&options.cache, &job.bundle);
                continue;
            }
            Err(baton_bundle::OpenError::Findings(findings)) => {
                return Err(ApplyError::Verification {
                    bundle: job.bundle.clone(),
                    digest: digest.clone(),
                    store: store.label(),
                    findings,
                });
            }
            Err(baton_bundle::OpenError::Io(e)) => return Err(e.into()),
        };
        let params = job.view.checked_params(&job.env.name, &job.bundle, &opened.config)?;
        let params_digest = params.digest.clone();
        let resolved = resolve(&params.values, &opened.config, &params.path, options.lookup)?;
        // The staging directory becomes the release: unpack fills it (through a directory of
        // its own beside it, renamed into place once every byte verified).
        let staging = baton_fs::temp_dir_in(releases, ".staging-")?;
        let layer = blobs.open_blob(&opened.layer().digest)?;
        match unpack(layer, opened.layer(), &opened.config, staging.path(), Limits::STANDARD) {
            Ok(()) => return Ok((opened, resolved, params_digest, staging)),
            Err(UnpackError::Verification { findings }) if attempt == 0 => {
                tracing::warn!(bundle = %job.bundle, %digest, ?findings, "cached layer is damaged; fetching it again");
                forget(&options.cache, &job.bundle);
            }
            Err(UnpackError::Verification { findings }) => {
                return Err(ApplyError::Verification {
                    bundle: job.bundle.clone(),
                    digest: digest.clone(),
                    store: store.label(),
                    findings,
                });
            }
            Err(UnpackError::Destination { path, reason }) => {
                return Err(ApplyError::Target { path, source: std::io::Error::other(reason) });
            }
            Err(UnpackError::Io(e)) => return Err(e.into()),
        }
    }
    unreachable!("the second attempt returns")
}

/// Drops a bundle's cached blobs so the next copy fetches them again.
fn forget(cache: &Path, bundle: &BundleName) {
    let _ = fs_err::remove_dir_all(cache.join(bundle.as_str()));
}

/// Removes what an apply killed midway left: staging directories and temporary links. Runs under
/// the target's lock, so no other apply is using them.
fn clean_leftovers(home: &Path, releases: &Path) -> Result<(), ApplyError> {
    for entry in fs_err::read_dir(releases)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".staging-") || name.starts_with(".baton-unpack-") {
            fs_err::remove_dir_all(entry.path())?;
        } else if name.starts_with(".tmp-") {
            fs_err::remove_file(entry.path())?;
        }
    }
    for entry in fs_err::read_dir(home)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".current-") || name.starts_with(".tmp-") {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Points `home/current` at `.releases/<release>`: a new link beside it, renamed over it.
fn switch_current(home: &Path, release: &str) -> Result<(), ApplyError> {
    let temp = home.join(format!(".current-{}", std::process::id()));
    let _ = fs_err::remove_file(&temp);
    fs_err::os::unix::fs::symlink(Path::new(".releases").join(release), &temp)
        .map_err(|e| ApplyError::Target { path: home.to_owned(), source: e })?;
    fs_err::rename(&temp, home.join("current"))
        .map_err(|e| ApplyError::Target { path: home.to_owned(), source: e })?;
    baton_fs::sync_dir(home)?;
    Ok(())
}

/// The release `current` points at.
fn current_release(home: &Path) -> Result<Option<String>, ApplyError> {
    match fs_err::read_link(home.join("current")) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// True when `dir` holds exactly the files of `record`.
fn release_matches(dir: &Path, record: &AppliedRecord) -> Result<bool, ApplyError> {
    if !dir.is_dir() {
        return Ok(false);
    }
    Ok(compare(&record.files, &hash_tree(dir)?).is_empty())
}

/// An intact earlier release of the pinned digest and params.
fn earlier_release(
    releases: &Path,
    pin: &StateRecord,
    skip: Option<&str>,
) -> Result<Option<AppliedRecord>, ApplyError> {
    let prefix = format!("{}-", pin.digest.short());
    for entry in fs_err::read_dir(releases)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".json") else { continue };
        if !id.starts_with(&prefix) || Some(id) == skip {
            continue;
        }
        let Ok(text) = fs_err::read_to_string(releases.join(&name)) else { continue };
        let Ok(record) = serde_json::from_str::<AppliedRecord>(&text) else { continue };
        if record.digest == pin.digest
            && record.params_digest == pin.params_digest
            && release_matches(&releases.join(id), &record)?
        {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Keeps the `keep` newest releases (and always the current one).
fn prune(releases: &Path, current: &str, keep: u32) -> Result<(), ApplyError> {
    let mut dirs: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in fs_err::read_dir(releases)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == current || !entry.file_type()?.is_dir() {
            continue;
        }
        let modified = fs_err::metadata(releases.join(&name).with_extension("json"))
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        dirs.push((modified, name));
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, name) in dirs.into_iter().skip(keep.saturating_sub(1) as usize) {
        fs_err::remove_dir_all(releases.join(&name))?;
        let _ = fs_err::remove_file(releases.join(format!("{name}.json")));
    }
    Ok(())
}

/// Runs one command of an exec target in the rendered directory, with a time limit.
fn run(
    job: &Job<'_>,
    what: &'static str,
    argv: &[String],
    dir: &Path,
    record: &AppliedRecord,
    limit: Duration,
    resolved: &Resolved,
) -> Result<(), ApplyError> {
    let shown = resolved.mask(&argv.join(" "));
    let fail = |outcome: String, stderr: String| ApplyError::Command {
        what,
        command: shown.clone(),
        outcome,
        stderr: resolved.mask(&stderr),
    };
    let Some((program, arguments)) = argv.split_first() else {
        return Err(fail("is empty in baton.toml".into(), String::new()));
    };
    let stderr_file = tempfile::tempfile()?;
    let mut child = Command::new(program)
        .args(arguments)
        .current_dir(dir)
        .env("BATON_ENV", job.env.name.as_str())
        .env("BATON_BUNDLE", job.bundle.as_str())
        .env("BATON_VERSION", &record.version)
        .env("BATON_DIGEST", record.digest.to_string())
        .env("BATON_RENDERED_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file.try_clone()?)
        .spawn()
        .map_err(|e| fail(format!("cannot be started: {e}"), String::new()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(
                format!("ran longer than {}s and was killed", limit.as_secs()),
                tail(stderr_file)?,
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        return Ok(());
    }
    Err(fail(format!("failed ({status})"), tail(stderr_file)?))
}

/// The last 20 lines of a command's stderr.
fn tail(mut file: std::fs::File) -> std::io::Result<String> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut text = String::new();
    file.take(1 << 20).read_to_string(&mut text)?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(20)..].join("\n"))
}

fn lock(home: &Path) -> Result<baton_fs::LockFile, ApplyError> {
    baton_fs::LockFile::try_acquire(&home.join(".lock"))?
        .map_err(|busy| ApplyError::Busy { target: home.to_owned(), lock: busy.path })
}

fn read_record(home: &Path) -> Result<Option<AppliedRecord>, ApplyError> {
    match fs_err::read_to_string(home.join("applied.json")) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A record as pretty JSON, written whole or not at all (`.tmp-*` beside it until the rename).
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ApplyError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    Ok(baton_fs::write_atomic(path, &bytes)?)
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| String::new(), |t| t.to_string())
}

/// What `drift` found for one bundle.
#[derive(Clone, Debug, Serialize)]
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
    /// Whether the applied digest is the pinned one.
    pub pinned: bool,
    /// File differences between the target and the record.
    pub differences: Differences,
    /// Nothing was ever applied.
    pub never_applied: bool,
}

impl DriftReport {
    /// True when the target holds exactly what the pin says.
    pub fn is_clean(&self) -> bool {
        !self.never_applied && self.pinned && self.differences.is_empty()
    }
}

/// Re-hashes the targets of `env` (or one bundle) against their records; fetches nothing.
pub fn drift(
    view: &View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<DriftReport>, ApplyError> {
    jobs(view, env, bundle, options)?.iter().map(drift_one).collect()
}

/// Re-hashes one bundle's target against its record.
fn drift_one(job: &Job<'_>) -> Result<DriftReport, ApplyError> {
    let report = DriftReport {
        bundle: job.bundle.clone(),
        environment: job.env.name.clone(),
        target: job.home.clone(),
        release: None,
        applied: None,
        pinned: false,
        differences: Differences::default(),
        never_applied: true,
    };
    let Some(record) = read_record(&job.home)? else { return Ok(report) };
    let dir = applied_tree(job, &record);
    let found = if dir.is_dir() { hash_tree(&dir)? } else { Tree::new() };
    Ok(DriftReport {
        pinned: record.digest == job.pin.digest && record.params_digest == job.pin.params_digest,
        differences: compare(&record.files, &found),
        applied: Some(record.digest),
        release: Some(record.release),
        never_applied: false,
        ..report
    })
}

/// Where the files of what `record` applied are: the release an exec target ran in, or what a
/// dir target's `current` points at.
fn applied_tree(job: &Job<'_>, record: &AppliedRecord) -> PathBuf {
    match &job.env.target {
        Some(Target::Exec { .. }) => job.home.join(".releases").join(&record.release),
        _ => job.home.join("current"),
    }
}

/// What `apply` would change for one bundle.
#[derive(Clone, Debug, Serialize)]
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
        let is_exec = matches!(job.env.target, Some(Target::Exec { .. }));
        let current_dir = match read_record(&job.home)? {
            Some(record) => Some(applied_tree(&job, &record)),
            None if !is_exec => Some(job.home.join("current")),
            None => None,
        };
        let old = match &current_dir {
            Some(dir) if dir.is_dir() => hash_tree(dir)?,
            _ => Tree::new(),
        };
        let differences = compare(&old, &new);
        let mut diff = String::new();
        for path in differences.changed.iter().chain(&differences.added).chain(&differences.removed)
        {
            let read = |dir: Option<&Path>| {
                dir.and_then(|d| fs_err::read(d.join(path)).ok()).map(|b| String::from_utf8(b).ok())
            };
            let before = read(current_dir.as_deref());
            let after = read(Some(staging.path()));
            match (before, after) {
                (Some(None), _) | (_, Some(None)) => {
                    diff.push_str("Binary file ");
                    diff.push_str(path);
                    diff.push_str(" differs\n");
                }
                (before, after) => {
                    let before = resolved.mask(&before.flatten().unwrap_or_default());
                    let after = resolved.mask(&after.flatten().unwrap_or_default());
                    let text = similar::TextDiff::from_lines(&before, &after)
                        .unified_diff()
                        .header(&format!("a/{path}"), &format!("b/{path}"))
                        .to_string();
                    diff.push_str(&text);
                }
            }
        }
        plans.push(Plan {
            bundle: job.bundle.clone(),
            environment: job.env.name.clone(),
            digest: job.pin.digest.clone(),
            differences,
            diff,
        });
    }
    Ok(plans)
}

/// What one reconcile pass did for one bundle.
#[derive(Clone, Debug, Serialize)]
pub struct PassReport {
    /// The bundle.
    pub bundle: BundleName,
    /// `unchanged`, `applied`, `healed`, `swapped`, or `drift` (found, not healed).
    pub action: String,
    /// What drift was found before acting.
    pub differences: Differences,
}

/// One pass of the control loop: compare every pin of `env` with its applied record and
/// target; apply what differs; re-apply where the target drifted, unless `heal` is false.
pub fn reconcile(
    view: &View,
    env: &str,
    heal: bool,
    options: &ApplyOptions<'_>,
) -> Result<Vec<PassReport>, ApplyError> {
    let mut reports = Vec::new();
    for job in jobs(view, env, None, options)? {
        let report = drift_one(&job)?;
        let action = if report.is_clean() {
            "unchanged".to_owned()
        } else if !report.never_applied && report.pinned && !heal {
            "drift".to_owned()
        } else {
            // What drift just hashed and found changed is not hashed again by the apply.
            let drifted = report.release.as_deref().filter(|_| report.pinned);
            apply_one(&job, options, drifted)?.action
        };
        reports.push(PassReport { bundle: report.bundle, action, differences: report.differences });
    }
    Ok(reports)
}
