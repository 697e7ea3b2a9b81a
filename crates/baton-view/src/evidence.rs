//! The promoter's side of the gates: the evidence for one promotion, read from the view at the
//! branch head. The auditor gathers the same evidence from history instead; both hand it to
//! [`crate::evaluate`].

use baton_model::{BundleName, Digest, Environment, Principal};
use baton_store::{
    Store,
    evidence::{NO_KEY_VERIFIES, check_signatures},
};

use crate::{
    Evidence, RecordedApproval, SignedEvidence, UpstreamEvidence, View, ViewError,
    view::error_chain,
};

/// The stores the promoter's gates read: the one the bundle is copied from (its signatures),
/// and the upstream environment's (the attestation its pin records).
pub struct GateStores<'a> {
    /// Where the bytes come from.
    pub source: &'a Store,
    /// The upstream environment's store, when there is an upstream.
    pub upstream: Option<&'a Store>,
    /// The instant the gates are evaluated at (a report dated later does not count).
    pub at: jiff::Timestamp,
}

impl View {
    /// What the gates of `env` look at for promoting `digest` of `bundle` by `promoter` now.
    /// `promoter_key` is the fingerprint of the key that will sign the promotion, if any.
    pub fn gate_evidence(
        &self,
        env: &Environment,
        (bundle, digest): (&BundleName, &Digest),
        promoter: (&Principal, Option<String>),
        allow_superseded: bool,
        stores: &GateStores<'_>,
    ) -> Result<Evidence, ViewError> {
        let (promoter, promoter_key) = promoter;
        let upstream = match &env.upstream {
            Some(up) => {
                let pin = self.pin(up, bundle)?;
                // When it was pinned upstream: the most recent baton commit that pinned it there.
                let events = self
                    .pin_events(|t| t.to == *up && t.bundle == *bundle && t.digest == *digest, 1)?;
                let pinned_at = events.first().map(|e| crate::commit_time(e.time));
                // The attestation the upstream pin records must hold for the upstream.
                let attestation_problem = match (&pin, events.first(), stores.upstream) {
                    (Some(pin), Some(event), Some(store)) if pin.digest == *digest => self
                        .pin_evidence(store, up, pin.into(), event.commit)?
                        .problems
                        .into_iter()
                        .map(|p| format!("{} expected; {}", p.expected, p.found))
                        .reduce(|a, b| format!("{a}; {b}")),
                    _ => None,
                };
                // What the upstream's targets reported of the digest, rendered with the params
                // the upstream pin records.
                let verified = match (&pin, stores.upstream) {
                    (Some(pin), Some(store))
                        if pin.digest == *digest && env.gates.verified.is_some() =>
                    {
                        self.verified_evidence(
                            store,
                            (up, bundle, digest),
                            &pin.params_digest,
                            stores.at,
                        )?
                    }
                    _ => crate::VerifiedEvidence {
                        expected: self.environment(up.as_str())?.targets.clone(),
                        ..Default::default()
                    },
                };
                let current = pin.map(|p| p.digest);
                Some(UpstreamEvidence {
                    env: up.clone(),
                    current,
                    pinned_at,
                    attestation_problem,
                    verified,
                })
            }
            None => None,
        };
        let signed = if env.gates.signed_by.is_empty() {
            SignedEvidence::default()
        } else {
            self.signed_evidence(stores.source, bundle, digest)?
        };
        let signatures_required = self.allowed_signers_in(self.snapshot.tree)?.is_some();
        let mut approvals = Vec::new();
        if env.gates.approvals > 0 {
            let records = self.approvals(&env.name, bundle, digest)?;
            // Where signers are required, an approval counts only when the commit that recorded
            // it is signed by a key listed for its principal: those commits are found in one
            // walk of the history, and only then.
            let commits = if signatures_required {
                let wanted: Vec<Principal> = records.iter().map(|r| r.by.clone()).collect();
                self.approval_commits(&env.name, bundle, digest, &wanted)?
            } else {
                std::collections::HashMap::new()
            };
            for record in records {
                let commit = commits.get(&record.by).copied();
                let key = match commit {
                    Some(commit) if signatures_required => {
                        self.signature_state(commit)?.key_for(record.by.as_str())
                    }
                    _ => None,
                };
                // The same words as the auditor's, who weighs the same approval.
                let invalid = (signatures_required && key.is_none())
                    .then(|| format!("not signed by a key listed for `{}`", record.by));
                approvals.push(RecordedApproval {
                    by: record.by,
                    commit,
                    at: Some(record.at),
                    invalid,
                    key,
                });
            }
        }
        Ok(Evidence {
            promoter: promoter.clone(),
            upstream,
            approvals,
            allow_superseded,
            signatures_required,
            promoter_key: promoter_key.filter(|_| signatures_required),
            signed,
        })
    }

    /// The signatures of `digest` in `store`, each checked against every key of
    /// `.baton/trusted_keys.toml` at the branch head.
    fn signed_evidence(
        &self,
        store: &Store,
        bundle: &BundleName,
        digest: &Digest,
    ) -> Result<SignedEvidence, ViewError> {
        let trusted = self.trusted_keys_in(self.snapshot.tree)?;
        let keys: Vec<_> = match &trusted {
            Ok(trusted) => trusted.keys().iter().map(|k| k.key.clone()).collect(),
            Err(_) => Vec::new(),
        };
        let (mut verified, mut rejected) = (Vec::new(), Vec::new());
        if !keys.is_empty() {
            match check_signatures(store, bundle, digest, &keys) {
                Ok(checks) => {
                    for check in checks {
                        match (check.keyid, check.problem) {
                            (Some(keyid), _) if !verified.contains(&keyid) => verified.push(keyid),
                            (None, Some(problem)) if problem == NO_KEY_VERIFIES => rejected.push(
                                "a signature by a key that is not trusted (no key of \
                                 .baton/trusted_keys.toml verifies it)"
                                    .to_owned(),
                            ),
                            (None, Some(problem)) => {
                                rejected
                                    .push(format!("a signature that does not count ({problem})"));
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => rejected.push(format!(
                    "the signatures in {} cannot be read ({})",
                    store.label(),
                    error_chain(&e)
                )),
            }
        }
        Ok(SignedEvidence { trusted, verified, rejected })
    }
}
