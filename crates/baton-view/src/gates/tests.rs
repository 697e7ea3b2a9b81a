//! The evaluator as a table: evidence in, outcomes out, at a pinned instant.

use baton_model::Pipeline;

use super::*;

const PIPELINE: &str = r#"
[[environment]]
name = "staging"
store = "oci:stores/staging"

[[environment]]
name = "prod"
store = "oci:stores/prod"
gates = { soak = "2h", approvals = 2, windows = ["Mon-Fri 09:00-16:00 Europe/Berlin"] }
"#;

/// 2026-11-24 is a Tuesday.
fn at(hh_mm: &str) -> Timestamp {
    format!("2026-11-24T{hh_mm}:00Z").parse().unwrap()
}

fn principal(name: &str) -> Principal {
    name.parse().unwrap()
}

fn approval(by: &str, invalid: Option<&str>) -> RecordedApproval {
    RecordedApproval {
        by: principal(by),
        commit: None,
        at: None,
        invalid: invalid.map(Into::into),
        key: None,
    }
}

/// Evaluates prod's gates with `digest` pinned in staging at `pinned` (HH:MM) and `approvals`.
fn check(pinned: Option<&str>, approvals: Vec<RecordedApproval>, now: &str) -> Vec<GateOutcome> {
    let pipeline = Pipeline::from_toml(PIPELINE).unwrap();
    let prod = pipeline.environment(&"prod".parse().unwrap()).unwrap();
    let digest = Digest::of(b"bundle");
    let evidence = Evidence {
        promoter: principal("ci@example.com"),
        upstream: Some(UpstreamEvidence {
            env: "staging".parse().unwrap(),
            current: pinned.map(|_| digest.clone()),
            pinned_at: pinned.map(at),
            attestation_problem: None,
            verified: crate::VerifiedEvidence::default(),
        }),
        approvals,
        allow_superseded: false,
        signatures_required: false,
        promoter_key: None,
        signed: SignedEvidence::default(),
    };
    evaluate(prod, &"web".parse().unwrap(), &digest, &evidence, at(now))
}

fn gate(outcomes: &[GateOutcome], name: GateName) -> &GateOutcome {
    outcomes.iter().find(|o| o.gate == name).unwrap()
}

#[test]
fn soak_counts_from_the_upstream_pin_and_says_when_it_ends() {
    let two = vec![approval("alice", None), approval("bob", None)];
    let early = check(Some("08:00"), two.clone(), "09:25");
    let soak = gate(&early, GateName::Soak);
    assert!(!soak.held);
    assert_eq!(soak.detail, "pinned in `staging` for 1h25m, needs 2h");
    assert_eq!(soak.fix.as_deref(), Some("wait 35m more, until 2026-11-24T10:00:00Z"));
    // One second short, then exactly on time.
    let short = check(Some("08:00"), two.clone(), "09:59");
    assert!(!gate(&short, GateName::Soak).held);
    let on_time = check(Some("08:00"), two, "10:00");
    assert!(on_time.iter().all(|o| o.held), "{on_time:#?}");
    assert_eq!(gate(&on_time, GateName::Soak).detail, "pinned in `staging` for 2h (needs 2h)");
}

#[test]
fn approvals_count_distinct_principals_other_than_the_promoter() {
    let approvals = vec![
        approval("alice", None),
        approval("ci@example.com", None),
        approval("carol", Some("not signed by a key listed for `carol`")),
    ];
    let outcomes = check(Some("08:00"), approvals, "12:00");
    let approvals = gate(&outcomes, GateName::Approvals);
    assert!(!approvals.held);
    assert_eq!(
        approvals.detail,
        "1 of 2 counted (alice); not counted: `ci@example.com` (the promoter cannot approve their own promotion), `carol` (not signed by a key listed for `carol`)"
    );
    assert!(
        approvals.fix.as_deref().unwrap().starts_with(
            "1 more by other principals: `baton approve web --env prod --digest sha256:"
        )
    );
}

#[test]
fn windows_are_evaluated_in_their_zone_at_the_instant_given() {
    let two = vec![approval("alice", None), approval("bob", None)];
    // 08:30 UTC is 09:30 in Berlin: inside. 07:59 UTC is 08:59: outside. 15:00 UTC is 16:00:
    // the window's end is not in it.
    assert!(gate(&check(Some("00:00"), two.clone(), "08:30"), GateName::Window).held);
    let before = check(Some("00:00"), two.clone(), "07:59");
    let window = gate(&before, GateName::Window);
    assert!(!window.held);
    assert!(window.detail.contains("at Tue 08:59 CET"), "{}", window.detail);
    assert!(!gate(&check(Some("00:00"), two.clone(), "15:00"), GateName::Window).held);
    assert!(gate(&check(Some("00:00"), two, "14:59"), GateName::Window).held);
}

#[test]
fn an_unknown_zone_holds_no_window_and_says_so() {
    let window: Window = "Mon-Sun 00:00-24:00 Mars/Olympus".parse().unwrap();
    let outcome = window_gate(&[window], at("12:00"));
    assert!(!outcome.held);
    assert!(outcome.detail.contains("unknown time zone `Mars/Olympus`"), "{}", outcome.detail);
}

#[test]
fn upstream_names_what_upstream_pins_instead() {
    let digest = Digest::of(b"bundle");
    let other = Digest::of(b"other");
    let upstream = |current: Option<&Digest>, pinned: bool| UpstreamEvidence {
        env: "staging".parse().unwrap(),
        current: current.cloned(),
        pinned_at: pinned.then(|| at("08:00")),
        attestation_problem: None,
        verified: crate::VerifiedEvidence::default(),
    };
    let superseded = upstream(Some(&other), true);
    let refused = upstream_gate(&superseded, &digest, false);
    assert!(!refused.held);
    assert!(refused.detail.contains(&format!("now pins {}", other.short())), "{}", refused.detail);
    assert!(upstream_gate(&superseded, &digest, true).held);
    let never = upstream_gate(&upstream(None, false), &digest, true);
    assert!(!never.held);
    assert_eq!(never.fix.as_deref(), Some("promote it to `staging` first"));
}

/// A key from a fixed seed, and its PEM.
fn key(seed: u8) -> (String, String) {
    let key = baton_sign::SigningKey::ed25519_from_seed(&[seed; 32]);
    (key.keyid().to_string(), key.public().to_pem())
}

#[test]
fn signed_by_counts_a_named_trusted_key_until_it_is_retired() {
    let ((build, build_pem), (old, old_pem), (release, release_pem)) = (key(1), key(2), key(3));
    let (stranger, _) = key(4);
    let file = format!(
        "[key.build]\npublic_key = \"\"\"\n{build_pem}\"\"\"\n\n[key.old]\npublic_key = \"\"\"\n{old_pem}\"\"\"\nretired = \"2026-11-24T10:00:00Z\"\n\n[key.release]\npublic_key = \"\"\"\n{release_pem}\"\"\"\n"
    );
    let trusted = TrustedKeys::parse(&file).unwrap();
    let names = vec!["build".to_owned(), "old".to_owned(), "missing".to_owned()];
    let digest = Digest::of(b"bundle");
    let bundle: BundleName = "web".parse().unwrap();
    let judge = |verified: &[&String], now: &str| {
        let signed = SignedEvidence {
            trusted: Ok(trusted.clone()),
            verified: verified.iter().map(|k| (*k).clone()).collect(),
            rejected: Vec::new(),
        };
        signed_by_gate(&names, &bundle, &digest, &signed, at(now))
    };
    let held = judge(&[&build], "11:00");
    assert!(held.held, "{}", held.detail);
    assert!(held.detail.starts_with("signed by `build`"), "{}", held.detail);
    // A retired key counts before its retirement, not after.
    assert!(judge(&[&old], "09:59").held);
    let retired = judge(&[&old], "10:00");
    assert!(!retired.held);
    assert!(
        retired.detail.contains("`old` was retired at 2026-11-24T10:00:00Z"),
        "{}",
        retired.detail
    );
    // A trusted key the environment does not name, a key nobody trusts, a name not in the file.
    let others = judge(&[&release, &stranger], "11:00");
    assert!(!others.held);
    for words in [
        "a signature by `release`, which this environment does not name",
        &format!("a signature by key {}, not trusted", &stranger[..12]),
        "`missing` is not in .baton/trusted_keys.toml",
    ] {
        assert!(others.detail.contains(words), "{words} in {}", others.detail);
    }
    assert!(others.fix.as_deref().unwrap().contains("baton sign"), "{:?}", others.fix);
    // A file that does not parse refuses, saying why.
    let broken = SignedEvidence {
        trusted: Err("`.baton/trusted_keys.toml`: key `x` …".into()),
        verified: vec![build.clone()],
        rejected: Vec::new(),
    };
    assert!(!signed_by_gate(&names, &bundle, &digest, &broken, at("11:00")).held);
}

#[test]
fn a_trusted_keys_file_names_what_is_wrong() {
    let (_, pem) = key(1);
    let twice = format!(
        "[key.a]\npublic_key = \"\"\"\n{pem}\"\"\"\n[key.b]\npublic_key = \"\"\"\n{pem}\"\"\"\n"
    );
    assert!(TrustedKeys::parse(&twice).unwrap_err().contains("key `b` is the same key as `a`"));
    let garbage = "[key.build]\npublic_key = \"not a key\"\n";
    let err = TrustedKeys::parse(garbage).unwrap_err();
    assert!(err.contains("key `build`") && err.contains("openssl pkey"), "{err}");
    let name = format!("[key.\"Build Key\"]\npublic_key = \"\"\"\n{pem}\"\"\"\n");
    assert!(TrustedKeys::parse(&name).unwrap_err().contains("`Build Key`"));
    let unknown = format!("[key.build]\npublic_key = \"\"\"\n{pem}\"\"\"\nexpires = 1\n");
    assert!(TrustedKeys::parse(&unknown).unwrap_err().contains("expires"));
}

const FLEET: &str = r#"
[[environment]]
name = "staging"
store = "oci:stores/staging"
targets = ["web-1", "web-2"]
target = { kind = "dir", path = "deploy", verify = { command = ["true"] } }

[[environment]]
name = "prod"
store = "oci:stores/prod"
gates = { verified = "all", soak = "1h" }
"#;

/// prod's gates with staging's targets having verified as `verifications` (target, HH:MM).
fn verified(verifications: &[(&str, &str)], now: &str) -> Vec<GateOutcome> {
    let pipeline = Pipeline::from_toml(FLEET).unwrap();
    let prod = pipeline.environment(&"prod".parse().unwrap()).unwrap();
    let staging = pipeline.environment(&"staging".parse().unwrap()).unwrap();
    let digest = Digest::of(b"bundle");
    let evidence = Evidence {
        promoter: principal("ci@example.com"),
        upstream: Some(UpstreamEvidence {
            env: "staging".parse().unwrap(),
            current: Some(digest.clone()),
            pinned_at: Some(at("07:00")),
            attestation_problem: None,
            verified: crate::VerifiedEvidence {
                expected: staging.targets.clone(),
                verifications: verifications
                    .iter()
                    .map(|(target, hh_mm)| baton_model::RecordedVerification {
                        target: target.parse().unwrap(),
                        report: Digest::of(target.as_bytes()),
                        at: at(hh_mm),
                    })
                    .collect(),
                passed_over: Vec::new(),
            },
        }),
        approvals: Vec::new(),
        allow_superseded: false,
        signatures_required: false,
        promoter_key: None,
        signed: SignedEvidence::default(),
    };
    evaluate(prod, &"web".parse().unwrap(), &digest, &evidence, at(now))
}

#[test]
fn verified_needs_every_expected_target_and_soak_counts_from_the_last() {
    // One of two: refused, naming the one that has not verified; the soak has not begun.
    let one = verified(&[("web-1", "08:00")], "12:00");
    let gate_v = gate(&one, GateName::Verified);
    assert!(!gate_v.held);
    assert!(gate_v.detail.contains("1 of 2 verified"), "{}", gate_v.detail);
    assert!(gate_v.detail.contains("not verified: `web-2`"), "{}", gate_v.detail);
    assert!(gate(&one, GateName::Soak).detail.contains("not verified in `staging` yet"));
    // Both, the later at 09:30: the soak of 1h counts from 09:30, not from the 07:00 pin.
    let early = verified(&[("web-1", "08:00"), ("web-2", "09:30")], "10:00");
    assert!(gate(&early, GateName::Verified).held);
    let soak = gate(&early, GateName::Soak);
    assert!(!soak.held, "{}", soak.detail);
    assert!(soak.detail.contains("verified in `staging` for 30m"), "{}", soak.detail);
    assert!(soak.fix.as_deref().unwrap().contains("2026-11-24T10:30:00Z"), "{:?}", soak.fix);
    let later = verified(&[("web-1", "08:00"), ("web-2", "09:30")], "10:30");
    assert!(later.iter().all(|g| g.held), "{later:?}");
    // A verification dated after the promotion, or by a target staging does not expect, does
    // not count.
    let future = verified(&[("web-1", "08:00"), ("web-2", "11:00")], "10:30");
    let gate_f = gate(&future, GateName::Verified);
    assert!(!gate_f.held);
    assert!(
        gate_f.detail.contains("`web-2` verified at 2026-11-24T11:00:00Z, after the promotion")
    );
    let stranger = verified(&[("web-1", "08:00"), ("web-9", "08:00")], "10:30");
    let gate_s = gate(&stranger, GateName::Verified);
    assert!(!gate_s.held);
    assert!(
        gate_s.detail.contains("`web-9` is not a target `staging` expects"),
        "{}",
        gate_s.detail
    );
}
