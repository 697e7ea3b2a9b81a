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
    verifications: &[baton_model::RecordedVerification],
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
        // The targets' reports the `verified` gate counted, where the upstream keeps them.
        let store = view.environment(up.as_str())?.store.to_string();
        for verification in verifications {
            let report = &verification.report;
            inputs.push(Descriptor {
                uri: format!("{store}/{bundle}@{report}"),
                digest: BTreeMap::from([("sha256".to_owned(), report.hex().to_owned())]),
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

/// The summary a promotion writes, made before anything is written: its statement, the key
/// that signs it, its instant, and the key ids of the signatures the `signed_by` gate counted.
pub(crate) struct Prepared {
    statement: serde_json::Value,
    key: Option<baton_sign::SigningKey>,
    at: Timestamp,
    /// The key ids the pin records.
    pub(crate) signatures: Vec<String>,
    /// The upstream targets' verifications the pin records.
    pub(crate) verifications: Vec<baton_model::RecordedVerification>,
}

/// What a promotion's pin will record of its evidence: the VSA of promoting `digest` of
/// `bundle` into `env` at `at`, to be signed with the evidence key of `key` (the commit's), and
/// the key ids of the signatures the `signed_by` gate counted. None for a break-glass (no
/// `evidence`: the gates were skipped).
pub(crate) fn prepare(
    view: &View,
    env: &Environment,
    (bundle, digest): (&BundleName, &Digest),
    evidence: Option<&Evidence>,
    key: Option<&SigningKey>,
    at: Timestamp,
) -> Result<Option<Prepared>, PromoteError> {
    let Some(evidence) = evidence else { return Ok(None) };
    let at =
        Timestamp::from_second(at.as_second()).expect("holds because it came from a Timestamp");
    let signatures = evidence
        .signed
        .counted(&env.gates.signed_by, at)
        .into_iter()
        .map(|(_, keyid)| keyid)
        .collect();
    let verifications = match (&evidence.upstream, env.gates.verified) {
        (Some(upstream), Some(_)) => {
            upstream.verified.counted(&upstream.env, at).0.into_iter().cloned().collect()
        }
        _ => Vec::new(),
    };
    let key = match key {
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
        inputs: inputs(view, env, bundle, digest, evidence, &verifications)?,
        at,
    };
    Ok(Some(Prepared { statement: vsa_statement(&summary), key, at, signatures, verifications }))
}

impl Prepared {
    /// Writes the summary into `target` as a referrer of `subject` (which need not be there
    /// yet: the copy may still be running). Returns its digest.
    pub(crate) fn write(
        &self,
        target: &Store,
        bundle: &BundleName,
        subject: &baton_model::oci::Descriptor,
    ) -> Result<Digest, PromoteError> {
        let descriptor = attach_attestation(
            target,
            bundle,
            subject,
            &self.statement,
            (VSA_PREDICATE, self.at),
            &[],
            self.key.as_ref(),
        )?;
        Ok(descriptor.digest)
    }
}
