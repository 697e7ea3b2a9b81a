//! The machine-output contract: with `--output json`, every command prints exactly one JSON
//! document on stdout, on success and on every failure (exit 1, 2, 3, 4), and that document
//! validates against its committed schema. The validator is Python's `jsonschema` (Debian's
//! python3-jsonschema), which nobody on this team wrote.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use baton::document::{ErrorDocument, ErrorKind};
use baton_tests::{World, blob_path, build_json, repo_root, stderr, stdout};
use baton_view::GateName;

const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
document = json.loads(sys.stdin.read())  # exactly one document: trailing data is an error
errors = sorted(Draft202012Validator(schema).iter_errors(document), key=str)
for error in errors:
    print(f"{list(error.absolute_path)}: {error.message}")
sys.exit(1 if errors else 0)
"#;

/// Validates `document` against `schemas/NAME` with the outside validator.
fn validate(name: &str, document: &[u8]) {
    let schema = repo_root().join("schemas").join(name);
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", VALIDATE])
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Debian's python3 with python3-jsonschema runs (make test installs it)");
    child.stdin.take().unwrap().write_all(document).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "stdout does not validate against schemas/{name}:\n{}{}\n--- the document:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(document)
    );
}

struct Case {
    dir: PathBuf,
    args: Vec<String>,
    code: i32,
    schema: &'static str,
}

fn case(dir: &Path, args: &[&str], code: i32, schema: &'static str) -> Case {
    Case { dir: dir.to_owned(), args: args.iter().map(|a| (*a).to_owned()).collect(), code, schema }
}

/// Runs the case and checks its exit code and its one document; returns the document's bytes.
fn check(case: &Case) -> Vec<u8> {
    let output = baton_tests::baton(&case.dir)
        .args(&case.args)
        .args(["--output", "json"])
        .env("BATON_CACHE", case.dir.join(".cache"))
        .env("BATON_APPLIED_DIR", case.dir.join(".applied"))
        .env("WEB_TLS_KEY", "contract-secret")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(case.code),
        "baton {:?}: {}{}",
        case.args,
        stdout(&output),
        stderr(&output)
    );
    validate(case.schema, &output.stdout);
    output.stdout
}

/// Runs a failing case whose document is the error document, and decodes it.
fn check_error(case: &Case) -> ErrorDocument {
    let document = check(case);
    serde_json::from_slice(&document).unwrap_or_else(|e| {
        panic!("baton {:?}: {e}: {}", case.args, String::from_utf8_lossy(&document))
    })
}

/// web built into `DIR/damaged` with its layer's bytes replaced; returns its reference.
fn damaged_web(dir: &std::path::Path) -> String {
    let damaged = dir.join("damaged");
    let built = build_json(dir, &repo_root().join("examples/web"), &damaged, &[]);
    let layer = &*built.layer.digest.to_string();
    fs_err::write(blob_path(&damaged, "web", layer), b"not the layer").unwrap();
    format!("oci:{}/web:1.4.2", damaged.display())
}

#[test]
fn every_failure_prints_one_document_that_validates() {
    let w = World::new();
    let (tmp, state, digest, from) = (&w.tmp, w.state.clone(), w.web.clone(), w.build_store());
    let empty = tmp.path().join("empty");
    fs_err::create_dir_all(&empty).unwrap();
    let missing_store = format!("oci:{}", tmp.path().join("no-store").display());
    let damaged_ref = damaged_web(tmp.path());
    let e = "output/error.schema.json";
    let failures = [
        // Exit 2: the command line.
        case(&empty, &["promote"], 2, e),
        case(&empty, &["bundle", "inspect", "team/web:1.0"], 2, e),
        // Exit 1: nothing to read, nothing to build, nothing there.
        case(&empty, &["status"], 1, e),
        case(&empty, &["history", "prod"], 1, e),
        case(&empty, &["bundle", "build", "no-such-dir", "--store", "oci:store"], 1, e),
        case(&empty, &["bundle", "inspect", &format!("{missing_store}/web:1.0.0")], 1, e),
        case(&empty, &["bundle", "import", "no-such.tar", "--store", "oci:store"], 1, e),
        case(&state, &["init", ".", "--local"], 1, e),
        case(&state, &["diff", "dev", "nowhere"], 1, e),
        case(&state, &["approve", "web", "--env", "prod", "--as", "alice"], 1, e),
        case(&state, &["rollback", "web", "--env", "dev", "--as", "ci"], 1, e),
        case(&state, &["plan", "dev"], 1, e),
        case(&state, &["apply", "dev"], 1, e),
        case(&state, &["drift", "dev"], 1, e),
        // An agent waiting for a first pin passes idle (below); one of an environment that
        // does not exist cannot.
        case(&state, &["agent", "--env", "nowhere", "--once"], 1, e),
        case(&state, &["agent", "--env", "dev", "--once"], 0, "output/agent.schema.json"),
        // Exit 4: verification found damage; the report is the document.
        case(&empty, &["bundle", "verify", &damaged_ref], 4, "output/bundle-verify.schema.json"),
        case(&empty, &["verify", &damaged_ref], 4, "output/bundle-verify.schema.json"),
    ];
    for failure in &failures {
        if failure.schema == e {
            let document = check_error(failure);
            assert_eq!(i32::from(document.error.exit_code), failure.code, "{document:?}");
            assert_eq!(i32::from(document.error.kind.exit_code()), failure.code, "{document:?}");
            assert!(!document.error.message.is_empty(), "{document:?}");
        } else {
            check(failure);
        }
    }
    // Successes validate against their own schemas.
    let promote = ["promote", "web", "--to", "dev", "--digest", &digest, "--from-store", &from];
    let successes = [
        case(&state, &[&promote[..], &["--as", "ci"]].concat(), 0, "output/promote.schema.json"),
        case(
            &state,
            &["promote", "web", "--to", "staging", "--as", "ci"],
            0,
            "output/promote.schema.json",
        ),
        case(&state, &["status"], 0, "output/status.schema.json"),
        case(&state, &["history", "staging"], 0, "output/history.schema.json"),
        case(&state, &["diff", "dev", "staging"], 0, "output/diff.schema.json"),
        case(&state, &["plan", "dev"], 0, "output/plan.schema.json"),
        case(
            &state,
            &["render", "dev", "web", "--into", "rendered"],
            0,
            "output/render.schema.json",
        ),
        case(&state, &["apply", "dev"], 0, "output/apply.schema.json"),
        case(&state, &["drift", "dev"], 0, "output/drift.schema.json"),
        case(&state, &["agent", "--env", "dev", "--once"], 0, "output/agent.schema.json"),
        case(
            &state,
            &["bundle", "list", "--store", "oci:stores/dev"],
            0,
            "output/bundle-list.schema.json",
        ),
        case(
            &state,
            &["bundle", "inspect", "oci:stores/dev/web:1.4.2"],
            0,
            "output/bundle-inspect.schema.json",
        ),
        case(
            &state,
            &["bundle", "verify", "oci:stores/dev/web:1.4.2"],
            0,
            "output/bundle-verify.schema.json",
        ),
    ];
    for success in &successes {
        check(success);
    }
    // Exit 3: a gate refusal names every gate, with what would make the failing ones hold.
    let refused =
        check_error(&case(&state, &["promote", "web", "--to", "prod", "--as", "ci"], 3, e));
    assert_eq!(refused.error.kind, ErrorKind::Refused, "{refused:?}");
    let approvals = refused.gate(GateName::Approvals).unwrap();
    assert!(!approvals.held, "{refused:?}");
    assert!(
        approvals.fix.as_deref().unwrap().contains("baton approve web --env prod"),
        "{refused:?}"
    );
    assert!(refused.gate(GateName::Upstream).unwrap().held, "{refused:?}");
    assert!(refused.error.hint.as_deref().unwrap().contains("baton approve"), "{refused:?}");
    // Exit 4 from the audit: a hand edit of a pin, reported in the audit's own document.
    let pin = state.join("state/staging/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap().replace("by = \"ci\"", "by = \"mallory\"");
    fs_err::write(&pin, text).unwrap();
    baton_tests::git(&state, &["commit", "-q", "-am", "hand edit"]);
    check(&case(&state, &["audit"], 4, "audit-report.schema.json"));
}

#[test]
fn a_cause_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bad");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("bundle.toml"), "[bundle]\nname = \"web\"\nversion = \n").unwrap();
    let output = baton_tests::run(tmp.path(), &["bundle", "build", "bad", "--store", "oci:store"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let lines: Vec<&str> =
        err.lines().filter(|l| l.contains("invalid") || l.contains("expected")).collect();
    let mut seen = std::collections::HashSet::new();
    for line in &lines {
        assert!(seen.insert(line.trim()), "printed twice: {line}\n{err}");
    }
    let output = baton_tests::run(
        tmp.path(),
        &["bundle", "build", "bad", "--store", "oci:store", "--output", "json"],
    );
    validate("output/error.schema.json", &output.stdout);
}
