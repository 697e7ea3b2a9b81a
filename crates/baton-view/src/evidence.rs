//! The promoter's side of the gates: the evidence for one promotion, read from the view at the
//! branch head. The auditor gathers the same evidence from history instead; both hand it to
//! [`crate::evaluate`].

use baton_model::{BundleName, Digest, Environment, Principal};

use crate::{Evidence, RecordedApproval, UpstreamEvidence, View, ViewError};

impl View {
    /// What the gates of `env` look at for promoting `digest` of `bundle` by `promoter` now.
    /// `promoter_key` is the fingerprint of the key that will sign the promotion, if any.
    pub fn gate_evidence(
        &self,
        env: &Environment,
        bundle: &BundleName,
        digest: &Digest,
        promoter: (&Principal, Option<String>),
        allow_superseded: bool,
    ) -> Result<Evidence, ViewError> {
        let (promoter, promoter_key) = promoter;
        let upstream = match &env.upstream {
            Some(up) => {
                let current = self.pin(up, bundle)?.map(|p| p.digest);
                // When it was pinned upstream: the most recent baton commit that pinned it there.
                let events = self
                    .pin_events(|t| t.to == *up && t.bundle == *bundle && t.digest == *digest, 1)?;
                let pinned_at = events.first().map(|e| crate::commit_time(e.time));
                Some(UpstreamEvidence { env: up.clone(), current, pinned_at })
            }
            None => None,
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
        })
    }
}
