//! Tests of `baton.toml` parsing and of durations and windows.

use super::*;
use crate::TargetId;

const EXAMPLE: &str = r#"
[[environment]]
name = "dev"
store = "oci:stores/dev"
target = { kind = "dir", path = "deploy/dev" }

[[environment]]
name = "staging"
store = "oci:stores/staging"

[[environment]]
name = "prod"
store = "registry.example.com/prod"
gates = { upstream = "staging", soak = "2h", approvals = 2, windows = ["Mon-Fri 09:00-16:00 Europe/Berlin"], break_glass = true }
"#;

#[test]
fn parses_the_issue_example() {
    let pipeline = Pipeline::from_toml(EXAMPLE).unwrap();
    let envs = pipeline.environments();
    assert_eq!(envs.len(), 3);
    assert_eq!(envs[0].upstream, None);
    assert_eq!(envs[1].upstream.as_ref().unwrap().as_str(), "dev");
    assert_eq!(envs[2].upstream.as_ref().unwrap().as_str(), "staging");
    assert_eq!(envs[2].gates.soak.unwrap().seconds(), 7200);
    assert_eq!(envs[2].gates.approvals, 2);
    assert!(envs[2].gates.break_glass);
    assert_eq!(
        envs[0].target,
        Some(Target::Dir { path: "deploy/dev".into(), keep: 5, verify: Vec::new() })
    );
    assert_eq!(pipeline.names(), "dev, staging, prod");
}

fn problems(text: &str) -> String {
    Pipeline::from_toml(text).unwrap_err().to_string()
}

#[test]
fn unknown_keys_and_bad_values_name_their_line() {
    let text = "[[environment]]\nname = \"dev\"\nstore = \"oci:s\"\ncolour = 1\n";
    let err = problems(text);
    assert!(err.contains("unknown field `colour`") && err.contains("line 4"), "{err}");
    let err = problems("[[environment]]\nname = \"Dev\"\nstore = \"oci:s\"\n");
    assert!(err.contains("environment name `Dev`") && err.contains("line 2"), "{err}");
    let err = problems(
        "[[environment]]\nname = \"dev\"\nstore = \"oci:s\"\ntarget = { kind = \"ftp\" }\n",
    );
    assert!(err.contains("ftp") && err.contains("line 4"), "{err}");
    let err = problems(
        "[[environment]]\nname = \"a\"\nstore = \"oci:s\"\n[[environment]]\nname = \"b\"\nstore = \"oci:t\"\ngates = { soak = \"2 hours\" }\n",
    );
    assert!(err.contains("duration `2 hours`") && err.contains("line 7"), "{err}");
}

#[test]
fn inconsistent_chains_are_refused_with_every_problem() {
    let text = r#"
[[environment]]
name = "dev"
store = "oci:s"
gates = { soak = "1h" }

[[environment]]
name = "dev"
store = "oci:s"

[[environment]]
name = "prod"
store = "oci:s"
gates = { upstream = "qa" }
"#;
    let err = problems(text);
    assert!(err.contains("line 3, `environment[0].gates.soak`"), "{err}");
    assert!(
        err.contains("line 8, `environment[1].name`: environment `dev` is defined twice"),
        "{err}"
    );
    assert!(
        err.contains("line 14, `environment[2].gates.upstream`: upstream `qa` is not"),
        "{err}"
    );
    let err = problems(
        "[[environment]]\nname = \"a\"\nstore = \"oci:s\"\ngates = { upstream = \"b\" }\n[[environment]]\nname = \"b\"\nstore = \"oci:s\"\n",
    );
    assert!(err.contains("comes after `a`"), "{err}");
    assert!(problems("environment = []\n").contains("no environment is defined"));
}

#[test]
fn durations() {
    for (text, seconds) in
        [("0s", 0), ("90s", 90), ("2h", 7200), ("1d12h", 129_600), ("1w", 604_800)]
    {
        let d: Duration = text.parse().unwrap();
        assert_eq!(d.seconds(), seconds, "{text}");
    }
    assert_eq!(Duration::from_seconds(5430).to_string(), "1h30m30s");
    for bad in ["", "2", "h", "2x", "1m2h", "2h2h", "-1h", "2 h"] {
        assert!(bad.parse::<Duration>().is_err(), "{bad}");
    }
}

#[test]
fn windows() {
    let w: Window = "Mon-Fri 09:00-16:00 Europe/Berlin".parse().unwrap();
    assert_eq!(w.zone(), "Europe/Berlin");
    assert!(w.contains(0, 9 * 60));
    assert!(w.contains(4, 16 * 60 - 1));
    assert!(!w.contains(4, 16 * 60));
    assert!(!w.contains(5, 12 * 60));
    let night: Window = "Fri-Sun 22:00-02:00".parse().unwrap();
    assert_eq!(night.zone(), "UTC");
    assert!(night.contains(4, 23 * 60));
    assert!(night.contains(5, 60), "Saturday 01:00 belongs to Friday's night");
    assert!(night.contains(0, 60), "Monday 01:00 belongs to Sunday's night");
    assert!(!night.contains(0, 23 * 60));
    let wrap: Window = "Sat-Mon 00:00-24:00".parse().unwrap();
    assert!(wrap.contains(6, 23 * 60 + 59) && wrap.contains(0, 0) && !wrap.contains(1, 0));
    for bad in ["Mon 9-17", "Funday 09:00-10:00", "Mon 09:00-09:00", "Mon 09:00-10:00 ../x", "Mon"]
    {
        assert!(bad.parse::<Window>().is_err(), "{bad}");
    }
}

#[test]
fn names_and_principals() {
    assert!("prod-eu-1".parse::<EnvName>().is_ok());
    for bad in ["", "Prod", "1prod", "pro/d", "a_b"] {
        assert!(bad.parse::<EnvName>().is_err(), "{bad}");
    }
    assert!("alice@example.com".parse::<Principal>().is_ok());
    for bad in ["", ".alice", "a b", "a/b", "../x"] {
        assert!(bad.parse::<Principal>().is_err(), "{bad}");
    }
}

const FLEET: &str = r#"
[[environment]]
name = "staging"
store = "oci:stores/staging"
targets = ["web-1", "web-2"]
on_verify_failure = "rollback"
target = { kind = "dir", path = "/srv/site", verify = { command = ["curl", "-fsS", "http://127.0.0.1:8080/health"], timeout = "30s", retries = 5, interval = "2s" } }

[[environment]]
name = "prod"
store = "registry.example.com/prod"
targets = 4
target = { kind = "exec", command = ["true"], verify = [{ name = "health", command = ["true"] }, { command = ["false"] }] }
gates = { verified = "all", soak = "2h", approvals = 2 }
"#;

#[test]
fn parses_a_fleet_with_checks_and_a_verified_gate() {
    let pipeline = Pipeline::from_toml(FLEET).unwrap();
    let [staging, prod] = pipeline.environments() else { panic!("two environments") };
    let ids: Vec<TargetId> = vec!["web-1".parse().unwrap(), "web-2".parse().unwrap()];
    assert_eq!(staging.targets, Some(ExpectedTargets::Ids(ids)));
    assert_eq!(staging.on_verify_failure, OnVerifyFailure::Rollback);
    let checks = staging.target.as_ref().unwrap().verify();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].retries, 5);
    assert_eq!(checks[0].attempt_limit(), std::time::Duration::from_secs(30));
    assert_eq!(checks[0].display_name(), "curl -fsS http://127.0.0.1:8080/health");
    assert_eq!(prod.targets, Some(ExpectedTargets::Count(4)));
    assert_eq!(prod.gates.verified, Some(VerifiedRule::All));
    let names: Vec<String> =
        prod.target.as_ref().unwrap().verify().iter().map(VerifyCheck::display_name).collect();
    assert_eq!(names, ["health", "false"]);
    assert_eq!(prod.on_verify_failure, OnVerifyFailure::Keep);
}

#[test]
fn a_verified_gate_needs_an_upstream_that_lists_targets_with_checks() {
    let no_targets = FLEET.replace("targets = [\"web-1\", \"web-2\"]\n", "");
    assert!(
        problems(&no_targets).contains("the upstream `staging` declares no `targets`"),
        "{}",
        problems(&no_targets)
    );
    let too_many = FLEET.replace("verified = \"all\"", "verified = 3");
    assert!(problems(&too_many).contains("asks for 3 verified targets"), "{}", problems(&too_many));
    let zero = FLEET.replace("verified = \"all\"", "verified = 0");
    assert!(problems(&zero).contains("`verified = 0` asks for nothing"), "{}", problems(&zero));
    let word = FLEET.replace("verified = \"all\"", "verified = \"most\"");
    assert!(problems(&word).contains("\"all\" or a number of targets"), "{}", problems(&word));
    let no_checks = FLEET.replacen(
        ", verify = { command = [\"curl\", \"-fsS\", \"http://127.0.0.1:8080/health\"], timeout = \"30s\", retries = 5, interval = \"2s\" }",
        "",
        1,
    );
    let found = problems(&no_checks);
    assert!(found.contains("has no `verify` checks on its target"), "{found}");
    assert!(found.contains("`rollback` needs a dir target with `verify` checks"), "{found}");
    let twice = FLEET.replace("[\"web-1\", \"web-2\"]", "[\"web-1\", \"web-1\"]");
    assert!(problems(&twice).contains("target `web-1` is listed twice"), "{}", problems(&twice));
    let bad_id = FLEET.replace("\"web-2\"", "\"web 2\"");
    assert!(problems(&bad_id).contains("target"), "{}", problems(&bad_id));
}

#[test]
fn a_bad_check_says_what_is_wrong_with_it() {
    let millis = FLEET.replace("interval = \"2s\"", "interval = \"200ms\"");
    let found = problems(&millis);
    assert!(found.contains("200ms"), "{found}");
    assert!(!found.contains("did not match any variant"), "{found}");
    let unknown = FLEET.replace("retries = 5", "retry = 5");
    let found = problems(&unknown);
    assert!(found.contains("unknown field `retry`"), "{found}");
    let in_array = FLEET.replace("{ command = [\"false\"] }", "{ command = \"false\" }");
    let found = problems(&in_array);
    assert!(found.contains("invalid type"), "{found}");
}
