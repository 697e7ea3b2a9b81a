//! What the applier is asked to act on: the bundles of an environment, each with its pin and
//! its home on the target.

use std::{collections::HashMap, path::PathBuf};

use baton_model::{BundleName, Digest, Environment, StateRecord};
use baton_state::ObjectId;
use baton_store::{Progress, RegistryOptions};
use baton_target::Home;
use baton_view::{View, ViewError, state_path};
use jiff::Timestamp;

use crate::{ApplyError, render::EnvLookup};

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
    /// The directory `from_file` references are read from, over the one baton.toml names.
    pub secrets_dir: Option<PathBuf>,
    /// Transfer progress.
    pub progress: &'a Progress,
    /// The clock records are dated by (the agent asks it once per pass).
    pub clock: &'a dyn Fn() -> Timestamp,
    /// Who reports what this target did, when it reports (`--target-id`).
    pub reporter: Option<Reporter>,
}

/// The target that reports, and the key its reports are signed with.
pub struct Reporter {
    /// The target's id in its environment.
    pub target: baton_model::TargetId,
    /// The evidence key of its SSH key (`--sign-key`), when it has one.
    pub key: Option<baton_sign::SigningKey>,
}

/// A bundle of an environment with everything needed to apply it.
pub(crate) struct Job<'v> {
    pub(crate) view: &'v View,
    pub(crate) env: Environment,
    /// The pin acted on (its `bundle` is the job's bundle).
    pub(crate) pin: StateRecord,
    /// The commit that made the pin, as the judge found it: its params are the ones rendered.
    pub(crate) pin_commit: ObjectId,
    pub(crate) home: Home,
    /// The target's id, when it reports.
    pub(crate) target_id: Option<baton_model::TargetId>,
}

/// The bundles to act on: one, or every bundle pinned in the environment.
pub(crate) fn jobs<'v>(
    view: &'v View,
    env: &str,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<Job<'v>>, ApplyError> {
    let env = view.environment(env)?.clone();
    let Some(target) = env.target.clone() else {
        return Err(ApplyError::NoTarget { env: env.name.clone() });
    };
    let root = view.repo.paths_root();
    Ok(admitted_pins(view, &env, bundle, options)?
        .into_iter()
        .map(|(pin, pin_commit)| {
            let home = Home::of(&target, root, &options.applied_dir, &env.name, &pin.bundle);
            let target_id = options.reporter.as_ref().map(|r| r.target.clone());
            Job { view, env: env.clone(), pin, pin_commit, home, target_id }
        })
        .collect())
}

/// The pins of `env` to act on (one bundle's, or every one), each with the commit that made it,
/// as the judge admits them: the first pin it does not admit is the error.
pub(crate) fn admitted_pins(
    view: &View,
    env: &Environment,
    bundle: Option<&BundleName>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<(StateRecord, ObjectId)>, ApplyError> {
    let pins = match bundle {
        Some(bundle) => vec![view.pin(&env.name, bundle)?.ok_or_else(|| {
            ApplyError::NotPinned { env: env.name.clone(), bundle: bundle.clone() }
        })?],
        None => view.pins_in(&env.name)?,
    };
    if pins.is_empty() {
        return Err(ApplyError::NothingPinned { env: env.name.clone() });
    }
    admitted(view, env, pins, options)
}

/// The pins whose commits the judge admits; the first that it does not is the error.
///
/// A pin admitted once is remembered by its file's blob id, in the applied dir, per state
/// repository, environment and bundle: while the branch head carries the same bytes (digest,
/// params digest, who, when), the verdict cannot change, and a pass that finds nothing new reads
/// no history. Any other bytes are judged again.
fn admitted(
    view: &View,
    environment: &Environment,
    pins: Vec<StateRecord>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<(StateRecord, ObjectId)>, ApplyError> {
    let (env, applied_dir) = (&environment.name, options.applied_dir.as_path());
    let mut store = None;
    let root = view.repo.paths_root().to_string_lossy().into_owned();
    let dir =
        applied_dir.join(".admitted").join(Digest::of(root.as_bytes()).short()).join(env.as_str());
    // The pin files' blob ids by path, from one listing of the environment's directory.
    let dir_of_pins = baton_model::layout::pins_dir(env);
    let ids: HashMap<String, ObjectId> = view
        .repo
        .list(&view.snapshot, &dir_of_pins)
        .map_err(ViewError::from)?
        .into_iter()
        .map(|(name, _, id)| (format!("{dir_of_pins}/{name}"), id))
        .collect();
    let mut verdicts: Vec<Option<ObjectId>> = Vec::new();
    let mut unknown = Vec::new();
    let mut blobs = Vec::new();
    for pin in &pins {
        let blob = ids.get(&state_path(env, &pin.bundle)).copied();
        let remembered = fs_err::read_to_string(dir.join(pin.bundle.as_str())).ok();
        let known = match (blob, remembered.as_deref().and_then(|r| r.split_once(' '))) {
            (Some(blob), Some((was, commit)))
                if ObjectId::from_hex(was.as_bytes()).ok() == Some(blob) =>
            {
                ObjectId::from_hex(commit.trim().as_bytes()).ok()
            }
            _ => None,
        };
        if known.is_none() {
            unknown.push(pin.clone());
            blobs.push(blob);
        }
        verdicts.push(known);
    }
    let mut judged = Vec::new();
    if !unknown.is_empty() {
        for (admission, blob) in
            baton_view::judge::admit(view, env, unknown)?.into_iter().zip(blobs)
        {
            let Some(commit) = admission.commit else {
                return Err(ApplyError::Unjudged {
                    env: env.clone(),
                    bundle: admission.pin.bundle,
                    digest: admission.pin.digest,
                });
            };
            let mut refusals = admission.refusals;
            if refusals.is_empty() {
                refusals = evidence_refusals(
                    view,
                    environment,
                    &admission.pin,
                    commit,
                    &mut store,
                    options,
                )?;
            }
            if !refusals.is_empty() {
                return Err(ApplyError::NotAdmitted {
                    env: env.clone(),
                    bundle: admission.pin.bundle,
                    digest: admission.pin.digest,
                    commit,
                    reasons: refusals,
                });
            }
            // Remembering is an optimisation: a verdict that cannot be written is reached again.
            if let Some(blob) = blob
                && fs_err::create_dir_all(&dir).is_ok()
            {
                let file = dir.join(admission.pin.bundle.as_str());
                let _ = baton_fs::write_atomic(&file, format!("{blob} {commit}\n").as_bytes());
            }
            judged.push(commit);
        }
    }
    let mut judged = judged.into_iter();
    Ok(pins
        .into_iter()
        .zip(verdicts)
        .map(|(pin, known)| {
            let commit = known.or_else(|| judged.next()).expect("holds: one verdict per pin");
            (pin, commit)
        })
        .collect())
}

/// What the auditor would find wrong with the evidence `pin` relies on (its attestation and the
/// bundle signatures its gate counted), in the environment's store opened once into `store`:
/// the same check, [`View::pin_evidence`], as error findings of the commit.
fn evidence_refusals(
    view: &View,
    environment: &Environment,
    pin: &StateRecord,
    commit: ObjectId,
    store: &mut Option<baton_store::Store>,
    options: &ApplyOptions<'_>,
) -> Result<Vec<baton_view::judge::Finding>, ApplyError> {
    if !baton_view::Claims::from(pin).relies_on_store() {
        return Ok(Vec::new());
    }
    let store = match store {
        Some(store) => store,
        None => store.insert(view.open_store(environment, options.registry)?),
    };
    let checked = view.pin_evidence(store, &environment.name, pin.into(), commit)?;
    Ok(checked
        .problems
        .into_iter()
        .map(|problem| baton_view::judge::Finding {
            severity: baton_view::judge::Severity::Error,
            check: baton_view::judge::Check::Evidence,
            environment: Some(environment.name.clone()),
            bundle: Some(pin.bundle.clone()),
            commit: Some(commit.to_string()),
            expected: problem.expected,
            found: problem.found,
        })
        .collect())
}

impl Job<'_> {
    /// The params the pin was promoted with: the branch head's when their digest is the one the
    /// pin records, else the file as it stood at the commit that made the pin (a params file
    /// changed without a promotion is never rendered).
    pub(crate) fn params(
        &self,
        config: &baton_model::BundleConfig,
    ) -> Result<baton_view::CheckedParams, ApplyError> {
        let view = self.view;
        let head = view.checked_params(&self.env.name, &self.pin.bundle, config);
        if let Ok(head) = &head
            && head.digest == self.pin.params_digest
        {
            return Ok(head.clone());
        }
        tracing::warn!(
            env = %self.env.name,
            bundle = %self.pin.bundle,
            "params changed without a promotion: the target keeps the promoted ones; promote again to apply the change"
        );
        let snapshot = view.repo.snapshot_at(self.pin_commit).map_err(ViewError::from)?;
        Ok(view.checked_params_at(&snapshot, &self.env.name, &self.pin.bundle, config)?)
    }
}
