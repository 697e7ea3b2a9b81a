//! The gates of an environment, computed from the state repository at one commit: upstream,
//! soak, approvals and windows. Each result says what was found and, when it fails, what would
//! make it pass.

use baton_model::{BundleName, Digest, Duration, Environment, Principal, Window};
use serde::Serialize;

use crate::{PromoteError, context::View};

/// The outcome of one gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateResult {
    /// `upstream`, `soak`, `approvals`, `window`.
    pub gate: String,
    /// Whether it holds.
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// What would make it pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl GateResult {
    fn pass(gate: &str, detail: String) -> GateResult {
        GateResult { gate: gate.into(), passed: true, detail, fix: None }
    }

    fn fail(gate: &str, detail: String, fix: String) -> GateResult {
        GateResult { gate: gate.into(), passed: false, detail, fix: Some(fix) }
    }
}

/// What the gates are asked about.
pub(crate) struct GateQuestion<'a> {
    /// The environment promoted to.
    pub(crate) env: &'a Environment,
    /// The bundle.
    pub(crate) bundle: &'a BundleName,
    /// The digest.
    pub(crate) digest: &'a Digest,
    /// Who promotes.
    pub(crate) promoter: &'a Principal,
    /// Whether a digest pinned upstream before (no longer now) is acceptable.
    pub(crate) allow_superseded: bool,
    /// Now, seconds since the epoch.
    pub(crate) now: i64,
}

/// Evaluates every gate of `question.env`; all results, passing or not.
pub(crate) fn evaluate(
    view: &View,
    question: &GateQuestion<'_>,
) -> Result<Vec<GateResult>, PromoteError> {
    let env = question.env;
    let mut results = Vec::new();
    let short = question.digest.short();
    if let Some(upstream) = &env.upstream {
        let pinned_now = view.pin(upstream, question.bundle)?;
        let is_current = pinned_now.as_ref().is_some_and(|p| p.digest == *question.digest);
        // When it was pinned upstream: the most recent baton commit that pinned it there.
        let events = view.pin_events(
            |t| t.to == *upstream && t.bundle == *question.bundle && t.digest == *question.digest,
            1,
        )?;
        let pinned_at = events.first().map(|e| e.time);
        match (is_current, pinned_at) {
            (true, _) => results
                .push(GateResult::pass("upstream", format!("{short} is pinned in `{upstream}`"))),
            (false, Some(_)) if question.allow_superseded => results.push(GateResult::pass(
                "upstream",
                format!("{short} was pinned in `{upstream}` before (superseded, allowed)"),
            )),
            (false, Some(_)) => results.push(GateResult::fail(
                "upstream",
                format!(
                    "{short} was pinned in `{upstream}` before, but `{upstream}` now pins {}",
                    pinned_now.as_ref().map_or("nothing".into(), |p| p.digest.short().to_owned())
                ),
                "pass `--allow-superseded` to promote it anyway, or promote what upstream pins now"
                    .into(),
            )),
            (false, None) => results.push(GateResult::fail(
                "upstream",
                format!("{short} was never pinned in `{upstream}`"),
                format!("promote it to `{upstream}` first"),
            )),
        }
        if let Some(soak) = env.gates.soak {
            results.push(soak_gate(upstream.as_str(), soak, pinned_at, question.now));
        }
    }
    if env.gates.approvals > 0 {
        results.push(approvals_gate(view, question)?);
    }
    if !env.gates.windows.is_empty() {
        results.push(window_gate(&env.gates.windows, question.now)?);
    }
    Ok(results)
}

/// Distinct principals other than the promoter (signed, where signers are required).
fn approvals_gate(view: &View, question: &GateQuestion<'_>) -> Result<GateResult, PromoteError> {
    let env = question.env;
    let approvals = view.approvals(&env.name, question.bundle, question.digest)?;
    // Where signers are required, an approval counts only when the commit that recorded it
    // is signed by a key listed for its principal.
    let signed_only = view.allowed_signers_in(view.snapshot.tree)?.is_some();
    let mut unsigned = Vec::new();
    let mut counted: Vec<&Principal> = Vec::new();
    for approval in &approvals {
        if approval.by == *question.promoter {
            continue;
        }
        if signed_only {
            let commit =
                view.approval_commit(&env.name, question.bundle, question.digest, &approval.by)?;
            let good = match commit {
                Some(commit) => view.signature_state(commit)?.is_good_for(approval.by.as_str()),
                None => false,
            };
            if !good {
                unsigned.push(approval.by.to_string());
                continue;
            }
        }
        counted.push(&approval.by);
    }
    let needed = env.gates.approvals as usize;
    let names = if counted.is_empty() {
        "none".to_owned()
    } else {
        counted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    if counted.len() >= needed {
        return Ok(GateResult::pass(
            "approvals",
            format!("{} of {needed} ({names})", counted.len()),
        ));
    }
    let own = if approvals.iter().any(|a| a.by == *question.promoter) {
        format!(
            "; the approval by `{}` does not count: the promoter cannot approve their own promotion",
            question.promoter
        )
    } else {
        String::new()
    };
    let own = if unsigned.is_empty() {
        own
    } else {
        format!(
            "{own}; not counted, not signed by a key listed for them in .baton/allowed_signers: {}",
            unsigned.join(", ")
        )
    };
    Ok(GateResult::fail(
        "approvals",
        format!("{} of {needed} ({names}){own}", counted.len()),
        format!(
            "{} more by other principals: `baton approve {} --env {} --digest {}`",
            needed - counted.len(),
            question.bundle,
            env.name,
            question.digest
        ),
    ))
}

fn soak_gate(upstream: &str, soak: Duration, pinned_at: Option<i64>, now: i64) -> GateResult {
    let Some(at) = pinned_at else {
        return GateResult::fail(
            "soak",
            format!("never pinned in `{upstream}`, needs {soak} there"),
            format!("promote it to `{upstream}` and wait {soak}"),
        );
    };
    let held = u64::try_from(now - at).unwrap_or(0);
    let held_text = Duration::from_seconds(held / 60 * 60);
    if held >= soak.seconds() {
        GateResult::pass("soak", format!("pinned in `{upstream}` for {held_text} (needs {soak})"))
    } else {
        let wait = soak.seconds() - held;
        let until = crate::context::rfc3339(now + i64::try_from(wait).unwrap_or(i64::MAX / 2));
        GateResult::fail(
            "soak",
            format!("pinned in `{upstream}` for {held_text}, needs {soak}"),
            format!("wait {} more, until {until}", Duration::from_seconds(wait)),
        )
    }
}

/// True when instant `at` (seconds since the epoch) is inside any of `windows`.
pub fn window_holds(windows: &[Window], at: i64) -> Result<bool, PromoteError> {
    Ok(windows.is_empty() || window_gate(windows, at)?.passed)
}

fn window_gate(windows: &[Window], now: i64) -> Result<GateResult, PromoteError> {
    let instant = jiff::Timestamp::from_second(now)
        .map_err(|e| PromoteError::Signing(format!("the clock is out of range: {e}")))?;
    let mut seen = Vec::new();
    for window in windows {
        let zone = jiff::tz::TimeZone::get(window.zone()).map_err(|e| PromoteError::BadFile {
            file: crate::context::PIPELINE.into(),
            message: format!("window `{window}`: unknown time zone `{}`: {e}", window.zone()),
        })?;
        let local = instant.to_zoned(zone);
        let weekday = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
            .expect("holds because a time of day has fewer than 65536 minutes");
        let shown = local.strftime("%a %H:%M %Z").to_string();
        if window.contains(weekday, minute) {
            return Ok(GateResult::pass("window", format!("inside `{window}` (now {shown})")));
        }
        seen.push(format!("`{window}` (now {shown})"));
    }
    Ok(GateResult::fail(
        "window",
        format!("outside every window: {}", seen.join(", ")),
        "promote inside a window, or use `--break-glass \"reason\"` where baton.toml allows it"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soak_says_how_long_to_wait() {
        let soak: Duration = "2h".parse().unwrap();
        let gate = soak_gate("staging", soak, Some(1_000_000), 1_000_000 + 1500);
        assert!(!gate.passed);
        assert_eq!(gate.detail, "pinned in `staging` for 25m, needs 2h");
        assert!(gate.fix.unwrap().starts_with("wait 1h35m more, until "));
        assert!(soak_gate("staging", soak, Some(0), 7200).passed);
        assert!(!soak_gate("staging", soak, None, 7200).passed);
    }

    #[test]
    fn windows_are_evaluated_in_their_zone() {
        // 2026-11-24 is a Tuesday; 08:30 UTC is 09:30 in Berlin.
        let at = |h: i64, m: i64| 1_795_478_400 + h * 3600 + m * 60; // 2026-11-24T00:00:00Z
        let berlin: Window = "Mon-Fri 09:00-16:00 Europe/Berlin".parse().unwrap();
        assert!(window_gate(std::slice::from_ref(&berlin), at(8, 30)).unwrap().passed);
        let gate = window_gate(std::slice::from_ref(&berlin), at(7, 30)).unwrap();
        assert!(!gate.passed);
        assert!(gate.detail.contains("now Tue 08:30 CET"), "{}", gate.detail);
        let weekend: Window = "Sat,Sun 00:00-24:00 UTC".parse().unwrap();
        assert!(!window_gate(std::slice::from_ref(&weekend), at(12, 0)).unwrap().passed);
        assert!(window_gate(&[weekend, berlin], at(12, 0)).unwrap().passed);
    }
}
