//! The attestation a promotion writes: the VSA of "this digest passed this environment's gates",
//! put in the environment's store before the pin is committed, and named by the pin.

use std::collections::BTreeMap;

use baton_model::{BundleName, Digest, Environment, layout::PIPELINE};
use baton_state::SigningKey;
use baton_store::{Store, evidence::attach_attestation};
use baton_view::{Descriptor, Evidence, Summary, VSA_PREDICATE, View, vsa_statement};
use jiff::Timestamp;

use crate::PromoteError;

/// Where `baton.toml` at the view's commit is, and its digests: the VSA's policy.
fn policy(view: &View) -> Result<Descriptor, PromoteError> {
    let commit = view.snapshot.commit.map(|c| c.to_string()).unwrap_or_default();
    let bytes = view.repo.read(&view.snapshot, PIPELINE)?.unwrap_or_default();
    let repo = view
        .repo
        .upstream()
        .map_or_else(|| format!("file:{}", view.repo.root().display()), |upstream| upstream.url);
    Ok(Descriptor {
        uri: format!("git+{repo}@{commit}#{PIPELINE}"),
        digest: BTreeMap::from([
            ("sha256".to_owned(), Digest::of(&bytes).hex().to_owned()),
            ("gitCommit".to_owned(), commit),
        ]),
    })
}

/// What the gates relied on: the upstream pin's commit and attestation, the approvals counted.
fn inputs(
    view: &View,
    env: &Environment,
    bundle: &BundleName,
    digest: &Digest,
    evidence: &Evidence,
) -> Result<Vec<Descriptor>, PromoteError> {
    let mut inputs = Vec::new();
    let git = |path: String, commit: String| Descriptor {
        uri: format!("git:{path}"),
        digest: BTreeMap::from([("gitCommit".to_owned(), commit)]),
    };
    if let Some(up) = &env.upstream {
        let events =
            view.pin_events(|t| t.to == *up && t.bundle == *bundle && t.digest == *digest, 1)?;
        if let Some(event) = events.first() {
            inputs.push(git(baton_view::state_path(up, bundle), event.commit.to_string()));
        }
        if let Some(pin) = view.pin(up, bundle)?.filter(|p| p.digest == *digest)
            && let Some(attestation) = pin.attestation
        {
            let store = view.environment(up.as_str())?.store.to_string();
            inputs.push(Descriptor {
                uri: format!("{store}/{bundle}@{attestation}"),
                digest: BTreeMap::from([("sha256".to_owned(), attestation.hex().to_owned())]),
            });
        }
    }
    for (approval, why_not) in evidence.approvals.iter().zip(evidence.weigh()) {
        if let (None, Some(commit)) = (why_not, approval.commit) {
            let path = baton_model::StatePath::Approval {
                env: env.name.clone(),
                bundle: bundle.clone(),
                digest: digest.clone(),
                principal: approval.by.clone(),
            };
            inputs.push(git(path.to_path(), commit.to_string()));
        }
    }
    Ok(inputs)
}

/// Refuses a commit key that cannot sign the attestation (RSA), so a promotion that checks
/// gates fails before anything is copied.
pub(crate) fn check_key(key: Option<&SigningKey>) -> Result<(), PromoteError> {
    match key {
        Some(key) if key.evidence_key().is_none() => {
            Err(PromoteError::KeyCannotAttest { kind: key.kind() })
        }
        _ => Ok(()),
    }
}

/// What a promotion's pin records of its evidence: the VSA of promoting `digest` of `bundle`
/// into `env` at `at`, written into `target` (the environment's store) and signed with the key
/// that signs the commit, and the key ids of the signatures the `signed_by` gate counted. None
/// of either for a break-glass (no `evidence`: the gates were skipped).
pub(crate) fn attest(
    view: &View,
    env: &Environment,
    subject: (&BundleName, &Digest),
    evidence: Option<&Evidence>,
    target: &Store,
    key: Option<&SigningKey>,
    at: Timestamp,
) -> Result<(Option<Digest>, Vec<String>), PromoteError> {
    let Some(evidence) = evidence else { return Ok((None, Vec::new())) };
    let at =
        Timestamp::from_second(at.as_second()).expect("holds because it came from a Timestamp");
    let signatures = evidence
        .signed
        .counted(&env.gates.signed_by, at)
        .into_iter()
        .map(|(_, keyid)| keyid)
        .collect();
    let attestation = summarise(view, env, subject, evidence, target, key, at)?;
    Ok((Some(attestation), signatures))
}

fn summarise(
    view: &View,
    env: &Environment,
    (bundle, digest): (&BundleName, &Digest),
    evidence: &Evidence,
    target: &Store,
    key: Option<&SigningKey>,
    at: Timestamp,
) -> Result<Digest, PromoteError> {
    let evidence_key = match key {
        Some(key) => Some(
            key.evidence_key().ok_or_else(|| PromoteError::KeyCannotAttest { kind: key.kind() })?,
        ),
        None => None,
    };
    let summary = Summary {
        env: &env.name,
        store: &env.store,
        bundle,
        digest,
        policy: policy(view)?,
        inputs: inputs(view, env, bundle, digest, evidence)?,
        at,
    };
    let descriptor = attach_attestation(
        target,
        bundle,
        digest,
        &vsa_statement(&summary),
        VSA_PREDICATE,
        at,
        evidence_key.as_ref(),
    )?;
    Ok(descriptor.digest)
}
