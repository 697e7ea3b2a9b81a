//! The one gate evaluator. The promoter asks it before it commits a pin, the auditor asks it
//! again for every promotion in history, and both hand it the same kind of [`Evidence`]: so
//! the audit proves what the promoter did, by the same rule, not by a copy of it.
//!
//! ```text
//! let evidence = view.gate_evidence(&env, &bundle, &digest, (&promoter, key), allow_superseded)?;
//! let outcomes = evaluate(&env, &bundle, &digest, &evidence, now);
//! ```
//!
//! The evaluator reads nothing: no repository, no clock. Time is the `at` it is given (now for
//! the promoter, the commit time for the auditor).

use std::fmt;

use baton_model::{
    BundleName, Digest, Duration, EnvName, Environment, ExpectedTargets, Principal, VerifiedRule,
    Window,
};

use crate::{TrustedKeys, VerifiedEvidence};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The gates an environment can have.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum GateName {
    /// The digest came from the upstream environment.
    Upstream,
    /// It was pinned upstream long enough.
    Soak,
    /// Enough other principals approved it.
    Approvals,
    /// The promotion is inside a window.
    Window,
    /// The bundle carries a valid signature by a trusted key the environment names.
    SignedBy,
    /// Enough of the upstream's targets reported the digest verified.
    Verified,
}

impl GateName {
    /// The word used in tables, findings (`gate-<word>`) and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            GateName::Upstream => "upstream",
            GateName::Soak => "soak",
            GateName::Approvals => "approvals",
            GateName::Window => "window",
            GateName::SignedBy => "signed-by",
            GateName::Verified => "verified",
        }
    }
}

impl fmt::Display for GateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one gate decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateOutcome {
    /// The gate.
    pub gate: GateName,
    /// Whether it holds.
    pub held: bool,
    /// What was found.
    pub detail: String,
    /// What the gate requires, in words.
    pub rule: String,
    /// What would make it hold (a command to run, when the soak ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Everything the gates look at, gathered by the caller from the state repository.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// Who promotes.
    pub promoter: Principal,
    /// What the upstream environment held, when the environment has one.
    pub upstream: Option<UpstreamEvidence>,
    /// Every approval recorded for the digest and environment.
    pub approvals: Vec<RecordedApproval>,
    /// Whether a digest pinned upstream before, but not now, is acceptable.
    pub allow_superseded: bool,
    /// Whether `.baton/allowed_signers` exists (so approvals must be signed to count).
    pub signatures_required: bool,
    /// The fingerprint of the key that signs (or signed) the promotion, where signatures are
    /// required: an approval signed with it is the promoter's, whatever name it carries.
    pub promoter_key: Option<String>,
    /// The bundle's signatures, for `signed_by`.
    pub signed: SignedEvidence,
}

/// What the `signed_by` gate looks at.
#[derive(Clone, Debug)]
pub struct SignedEvidence {
    /// `.baton/trusted_keys.toml` as it stands at the promotion (`Err`: why it does not parse).
    pub trusted: Result<TrustedKeys, String>,
    /// The ids of the keys whose signature over the digest verifies: as the promoter checked
    /// them in the store it copies from, or as the pin records them (the auditor and the
    /// applier check the store apart, in [`crate::View::pin_evidence`]).
    pub verified: Vec<String>,
    /// Signatures found that verify with no trusted key, and why (the promoter's detail).
    pub rejected: Vec<String>,
}

impl Default for SignedEvidence {
    fn default() -> SignedEvidence {
        SignedEvidence {
            trusted: Ok(TrustedKeys::default()),
            verified: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

impl SignedEvidence {
    /// The verified signatures that count for a gate naming `names` at `at`: by a key of one
    /// of those names that was not retired then. Each as (name, keyid).
    pub fn counted(&self, names: &[String], at: Timestamp) -> Vec<(String, String)> {
        let Ok(trusted) = &self.trusted else { return Vec::new() };
        self.verified
            .iter()
            .filter_map(|keyid| trusted.by_keyid(keyid))
            .filter(|k| names.contains(&k.name) && k.valid_at(at))
            .map(|k| (k.name.clone(), k.key.keyid().to_string()))
            .collect()
    }
}

impl Evidence {
    /// Why each approval does not count (in order; `None` where it counts). Four eyes are
    /// counted by key where signatures are required: an approval signed with the promoter's key
    /// does not count, and one key counts once, however many principals it is listed for.
    pub fn weigh(&self) -> Vec<Option<String>> {
        let mut keys: Vec<(&str, &Principal)> = Vec::new();
        self.approvals
            .iter()
            .map(|approval| {
                if let Some(why) = approval.why_not(&self.promoter) {
                    return Some(why);
                }
                let key = approval.key.as_deref()?;
                if self.promoter_key.as_deref() == Some(key) {
                    return Some(format!("signed with the promoter's own key {key}"));
                }
                if let Some((_, first)) = keys.iter().find(|(k, _)| *k == key) {
                    return Some(format!("signed with the same key as `{first}`'s approval"));
                }
                keys.push((key, &approval.by));
                None
            })
            .collect()
    }
}

/// What the upstream environment held of the bundle.
#[derive(Clone, Debug)]
pub struct UpstreamEvidence {
    /// The upstream environment.
    pub env: EnvName,
    /// The digest it pins now, if any.
    pub current: Option<Digest>,
    /// When it last pinned the digest being promoted, if it ever did.
    pub pinned_at: Option<Timestamp>,
    /// Why the attestation the upstream pin records does not hold for the upstream environment
    /// (missing, another environment's, not signed by its promoter): the promoter reads it from
    /// the upstream store; the auditor checks every pin's attestation apart.
    pub attestation_problem: Option<String>,
    /// What its targets reported, for `verified`.
    pub verified: VerifiedEvidence,
}

/// One approval as recorded, with why it cannot count when it cannot.
#[derive(Clone, Debug)]
pub struct RecordedApproval {
    /// Who approved.
    pub by: Principal,
    /// The commit that recorded it, when known.
    pub commit: Option<baton_state::ObjectId>,
    /// When it was recorded.
    pub at: Option<Timestamp>,
    /// Why it cannot count, whoever promotes (not written by baton, not signed, …).
    pub invalid: Option<String>,
    /// The fingerprint of the key that signed its commit, where signatures are required and
    /// the signature is good.
    pub key: Option<String>,
}

impl RecordedApproval {
    /// Why this approval does not count for `promoter`'s promotion; `None` when it counts.
    pub fn why_not(&self, promoter: &Principal) -> Option<String> {
        if self.by == *promoter {
            return Some("the promoter cannot approve their own promotion".to_owned());
        }
        self.invalid.clone()
    }
}

/// Evaluates every gate of `env` for promoting `digest` of `bundle` at instant `at`: every
/// outcome, holding or not, in the order upstream, verified, soak, approvals, window,
/// signed-by. With `verified`, the soak counts from the verification that completed it.
pub fn evaluate(
    env: &Environment,
    bundle: &BundleName,
    digest: &Digest,
    evidence: &Evidence,
    at: Timestamp,
) -> Vec<GateOutcome> {
    let mut outcomes = Vec::new();
    if let Some(upstream) = &evidence.upstream {
        outcomes.push(upstream_gate(upstream, digest, evidence.allow_superseded));
        let since = match env.gates.verified {
            Some(rule) => {
                let (outcome, complete) =
                    verified_gate(rule, &upstream.env, digest, &upstream.verified, at);
                outcomes.push(outcome);
                Since::Verified(complete)
            }
            None => Since::Pinned(upstream.pinned_at),
        };
        if let Some(soak) = env.gates.soak {
            outcomes.push(soak_gate(&upstream.env, soak, since, at));
        }
    }
    if env.gates.approvals > 0 {
        outcomes.push(approvals_gate(env, bundle, digest, evidence));
    }
    if !env.gates.windows.is_empty() {
        outcomes.push(window_gate(&env.gates.windows, at));
    }
    if !env.gates.signed_by.is_empty() {
        outcomes.push(signed_by_gate(&env.gates.signed_by, bundle, digest, &evidence.signed, at));
    }
    outcomes
}

fn signed_by_gate(
    names: &[String],
    bundle: &BundleName,
    digest: &Digest,
    signed: &SignedEvidence,
    at: Timestamp,
) -> GateOutcome {
    let listed = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ");
    let rule =
        format!("a signature of {} by {listed} (keys of .baton/trusted_keys.toml)", digest.short());
    let gate =
        |held, detail, fix: String| outcome(GateName::SignedBy, held, detail, rule.clone(), fix);
    let trusted = match &signed.trusted {
        Ok(trusted) => trusted,
        Err(e) => return gate(false, e.clone(), "correct .baton/trusted_keys.toml".to_owned()),
    };
    let counted = signed.counted(names, at);
    if let Some((name, keyid)) = counted.first() {
        return gate(
            true,
            format!("signed by `{name}` (key {})", short_keyid(keyid)),
            String::new(),
        );
    }
    let mut seen = Vec::new();
    for name in names {
        match trusted.named(name) {
            None => seen.push(format!("`{name}` is not in .baton/trusted_keys.toml")),
            Some(key) if !key.valid_at(at) => seen.push(format!(
                "`{name}` was retired at {}",
                key.retired.map_or_else(String::new, |r| r.to_string())
            )),
            Some(_) => {}
        }
    }
    for keyid in &signed.verified {
        match trusted.by_keyid(keyid) {
            Some(key) if !names.contains(&key.name) => {
                seen.push(format!(
                    "a signature by `{}`, which this environment does not name",
                    key.name
                ));
            }
            None => seen.push(format!("a signature by key {}, not trusted", short_keyid(keyid))),
            Some(_) => {}
        }
    }
    seen.extend(signed.rejected.iter().cloned());
    let mut detail = format!("no valid signature by {listed}");
    if !seen.is_empty() {
        detail = format!("{detail}: {}", seen.join("; "));
    }
    let fix = format!(
        "sign it with one of those keys: `baton sign STORE/{bundle}@{digest} --key KEY`, in the store it is promoted from"
    );
    gate(false, detail, fix)
}

/// The first 12 hex digits of a key id, as tables show it.
fn short_keyid(keyid: &str) -> &str {
    keyid.get(..12).unwrap_or(keyid)
}

fn outcome(gate: GateName, held: bool, detail: String, rule: String, fix: String) -> GateOutcome {
    GateOutcome { gate, held, detail, rule, fix: (!held).then_some(fix) }
}

fn upstream_gate(upstream: &UpstreamEvidence, digest: &Digest, superseded_ok: bool) -> GateOutcome {
    let (up, short) = (&upstream.env, digest.short());
    let rule = format!("{short} pinned in `{up}` first");
    let is_current = upstream.current.as_ref() == Some(digest);
    let gate = |held, detail, fix: &str| {
        outcome(GateName::Upstream, held, detail, rule.clone(), fix.to_owned())
    };
    if let Some(problem) = &upstream.attestation_problem {
        return gate(
            false,
            format!(
                "{short} is pinned in `{up}`, but its attestation there does not hold: {problem}"
            ),
            &format!(
                "promote it to `{up}` again with baton, so that `{up}` records a valid attestation"
            ),
        );
    }
    match (is_current, upstream.pinned_at) {
        (true, _) => gate(true, format!("{short} is pinned in `{up}`"), ""),
        (false, Some(_)) if superseded_ok => {
            gate(true, format!("{short} was pinned in `{up}` before (superseded, allowed)"), "")
        }
        (false, Some(_)) => gate(
            false,
            format!(
                "{short} was pinned in `{up}` before, but `{up}` now pins {}",
                upstream.current.as_ref().map_or("nothing", Digest::short)
            ),
            "pass `--allow-superseded` to promote it anyway, or promote what upstream pins now",
        ),
        (false, None) => gate(
            false,
            format!("{short} was never pinned in `{up}`"),
            &format!("promote it to `{up}` first"),
        ),
    }
}

/// What the soak counts from: the upstream pin, or the verification that completed the
/// `verified` gate.
#[derive(Clone, Copy)]
enum Since {
    Pinned(Option<Timestamp>),
    Verified(Option<Timestamp>),
}

fn soak_gate(up: &EnvName, soak: Duration, since: Since, at: Timestamp) -> GateOutcome {
    let (done, since) = match since {
        Since::Pinned(t) => ("pinned", t),
        Since::Verified(t) => ("verified", t),
    };
    let rule = format!("{done} in `{up}` for {soak}");
    let Some(since) = since else {
        let (detail, fix) = match done {
            "pinned" => (
                format!("never pinned in `{up}`, needs {soak} there"),
                format!("promote it to `{up}` and wait {soak}"),
            ),
            _ => (
                format!("not verified in `{up}` yet, needs {soak} after that"),
                format!("wait until the targets of `{up}` verify it, then {soak}"),
            ),
        };
        return outcome(GateName::Soak, false, detail, rule, fix);
    };
    let held = u64::try_from(at.as_second() - since.as_second()).unwrap_or(0);
    // Shown to the minute once it is a minute or more: the seconds are noise in a table.
    let shown = Duration::from_seconds(if held >= 60 { held / 60 * 60 } else { held });
    if held >= soak.seconds() {
        return outcome(
            GateName::Soak,
            true,
            format!("{done} in `{up}` for {shown} (needs {soak})"),
            rule,
            String::new(),
        );
    }
    let wait = soak.seconds() - held;
    let until = since
        .checked_add(jiff::SignedDuration::from_secs(
            i64::try_from(soak.seconds()).unwrap_or(i64::MAX),
        ))
        .map_or_else(|_| "a time out of range".to_owned(), |t| t.to_string());
    outcome(
        GateName::Soak,
        false,
        format!("{done} in `{up}` for {shown}, needs {soak}"),
        rule,
        format!("wait {} more, until {until}", Duration::from_seconds(wait)),
    )
}

/// The `verified` gate, and when it became complete (the verification that made the count):
/// each expected target counts once, by its verification dated no later than `at`.
fn verified_gate(
    rule: VerifiedRule,
    up: &EnvName,
    digest: &Digest,
    evidence: &VerifiedEvidence,
    at: Timestamp,
) -> (GateOutcome, Option<Timestamp>) {
    let short = digest.short();
    let Some(expected) = &evidence.expected else {
        let rule = format!("targets of `{up}` reported {short} verified");
        let detail = format!("`{up}` declares no `targets` in baton.toml");
        let fix = format!("list the targets of `{up}` in baton.toml (`targets = [...]`)");
        return (outcome(GateName::Verified, false, detail, rule, fix), None);
    };
    let needed = rule.needed(expected);
    let rule_text = match (rule, expected) {
        (VerifiedRule::All, ExpectedTargets::Ids(ids)) => format!(
            "every target of `{up}` ({}) reported {short} verified PASSED",
            ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
        _ => format!(
            "{needed} of the {} targets of `{up}` reported {short} verified PASSED",
            expected.len()
        ),
    };
    let (counted, mut notes) = evidence.counted(up, at);
    let held = counted.len() >= needed;
    let complete = held.then(|| counted.get(needed.saturating_sub(1)).map(|v| v.at)).flatten();
    let list = counted.iter().map(|v| format!("`{}` at {}", v.target, v.at)).collect::<Vec<_>>();
    let mut detail = format!("{} of {needed} verified", counted.len());
    if !list.is_empty() {
        detail = format!("{detail} ({})", list.join(", "));
    }
    if let ExpectedTargets::Ids(ids) = expected
        && !held
    {
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !counted.iter().any(|c| c.target == **id))
            .map(|id| format!("`{id}`"))
            .collect();
        detail = format!("{detail}; not verified: {}", missing.join(", "));
    }
    notes.extend(evidence.passed_over.iter().cloned());
    if !notes.is_empty() {
        detail = format!("{detail}; {}", notes.join("; "));
    }
    let fix = format!(
        "wait until the targets of `{up}` report {short} verified (`baton status`); a target whose verification failed needs a fixed bundle"
    );
    (outcome(GateName::Verified, held, detail, rule_text, fix), complete)
}

fn approvals_gate(
    env: &Environment,
    bundle: &BundleName,
    digest: &Digest,
    evidence: &Evidence,
) -> GateOutcome {
    let needed = env.gates.approvals as usize;
    let mut counted: Vec<&Principal> = Vec::new();
    let mut not_counted = Vec::new();
    for (approval, why_not) in evidence.approvals.iter().zip(evidence.weigh()) {
        match why_not {
            None if !counted.contains(&&approval.by) => counted.push(&approval.by),
            None => {}
            Some(why) => not_counted.push(format!("`{}` ({why})", approval.by)),
        }
    }
    let names = counted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut detail = format!("{} of {needed} counted", counted.len());
    if !names.is_empty() {
        detail = format!("{detail} ({names})");
    }
    if !not_counted.is_empty() {
        detail.push_str("; not counted: ");
        detail.push_str(&not_counted.join(", "));
    }
    let rule = format!(
        "{needed} approvals by principals other than `{}`, recorded before the promotion{}",
        evidence.promoter,
        if evidence.signatures_required { " and signed" } else { "" }
    );
    let fix = format!(
        "{} more by other principals: `baton approve {bundle} --env {} --digest {digest}`",
        needed.saturating_sub(counted.len()),
        env.name,
    );
    outcome(GateName::Approvals, counted.len() >= needed, detail, rule, fix)
}

/// Whether instant `at` is inside one of `windows`; an unknown time zone never is.
fn window_gate(windows: &[Window], at: Timestamp) -> GateOutcome {
    let all = windows.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ");
    let rule = format!("a promotion inside {all}");
    let fix =
        "promote inside a window, or use `--break-glass \"reason\"` where baton.toml allows it";
    let mut seen = Vec::new();
    for window in windows {
        let zone = match jiff::tz::TimeZone::get(window.zone()) {
            Ok(zone) => zone,
            Err(e) => {
                seen.push(format!(
                    "`{window}` has an unknown time zone `{}` ({e}): correct it in baton.toml",
                    window.zone()
                ));
                continue;
            }
        };
        let local = at.to_zoned(zone);
        let weekday = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
            .expect("holds because a time of day has fewer than 65536 minutes");
        let shown = local.strftime("%a %H:%M %Z").to_string();
        if window.contains(weekday, minute) {
            let detail = format!("inside `{window}` (at {shown})");
            return outcome(GateName::Window, true, detail, rule, String::new());
        }
        seen.push(format!("`{window}` (at {shown})"));
    }
    let detail = format!("outside every window: {}", seen.join(", "));
    outcome(GateName::Window, false, detail, rule, fix.to_owned())
}

#[cfg(test)]
mod tests;
