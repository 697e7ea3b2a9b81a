//! What the applier is asked to act on: the bundles of an environment, each with its pin and
//! its home on the target.

use std::path::PathBuf;

use baton_model::{BundleName, EnvName, Environment, StateRecord};
use baton_store::{Progress, RegistryOptions};
use baton_target::Home;
use baton_view::View;
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
    /// Transfer progress.
    pub progress: &'a Progress,
    /// The clock records are dated by (the agent asks it once per pass).
    pub clock: &'a dyn Fn() -> Timestamp,
}

/// A bundle of an environment with everything needed to apply it.
pub(crate) struct Job<'v> {
    pub(crate) view: &'v View,
    pub(crate) env: Environment,
    /// The pin acted on (its `bundle` is the job's bundle).
    pub(crate) pin: StateRecord,
    pub(crate) home: Home,
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
    let pins = match bundle {
        Some(bundle) => vec![view.pin(&env.name, bundle)?.ok_or_else(|| {
            ApplyError::NotPinned { env: env.name.clone(), bundle: bundle.clone() }
        })?],
        None => view.pins_in(&env.name)?,
    };
    if pins.is_empty() {
        return Err(ApplyError::NothingPinned { env: env.name.clone() });
    }
    let pins = admitted(view, &env.name, pins)?;
    let root = view.repo.paths_root();
    Ok(pins
        .into_iter()
        .map(|pin| {
            let home = Home::of(&target, root, &options.applied_dir, &env.name, &pin.bundle);
            Job { view, env: env.clone(), pin, home }
        })
        .collect())
}

/// The pins whose commits the judge admits; the first that it does not is the error.
fn admitted(
    view: &View,
    env: &EnvName,
    pins: Vec<StateRecord>,
) -> Result<Vec<StateRecord>, ApplyError> {
    baton_view::judge::admit(view, env, pins)?
        .into_iter()
        .map(|admission| {
            if admission.admitted() {
                return Ok(admission.pin);
            }
            Err(ApplyError::NotAdmitted {
                env: env.clone(),
                bundle: admission.pin.bundle,
                digest: admission.pin.digest,
                commit: admission.commit.unwrap_or_else(|| "none".into()),
                reasons: admission.refusals,
            })
        })
        .collect()
}
