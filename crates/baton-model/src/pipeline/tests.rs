//! Tests of `baton.toml` parsing and of durations and windows.

use super::*;

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
