//! What people read, pinned as snapshots (insta): the human output of status, history, diff,
//! a gate refusal and an audit with findings, and `--help` of baton and of every command. Temp
//! paths, digests, times and ages are filtered, so a snapshot changes only when the words do.
//! Update with `cargo insta test --accept` (or `INSTA_UPDATE=always cargo nextest run`).

use std::path::Path;

use baton_tests::World;

/// Runs baton in `dir` and renders what a person sees: the exit code, stdout, stderr.
fn seen(dir: &Path, args: &[&str]) -> String {
    let output = baton_tests::baton(dir)
        .args(args)
        .env("COLUMNS", "100")
        .env("BATON_CACHE", dir.join(".cache"))
        .output()
        .unwrap();
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn settings(tmp: &Path, tables: bool) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    let tmp = tmp.display().to_string();
    settings.add_filter(&regex::escape(&tmp), "[TMP]");
    settings.add_filter(r"sha256:[0-9a-f]{64}", "[DIGEST]");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[COMMIT]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[SHORT]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]");
    settings.add_filter(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:\d\d UTC\b", "[WEEKDAY TIME]");
    settings.add_filter(r"\b\d+[smhd]( ago)?\b", "[AGE]");
    settings.add_filter(r"\b\d+\.\d\d s\b", "[SECONDS] s");
    if tables {
        // Table columns are as wide as their widest cell, which an age can change: one gap.
        settings.add_filter(r"(\S)  +", "$1  ");
    }
    settings
}

#[test]
fn human_output_of_the_promoter_and_the_auditor() {
    let w = World::new();
    let (tmp, state, digest, from) = (&w.tmp, w.state.clone(), w.web.as_str(), w.build_store());
    let promote =
        ["promote", "web", "--to", "dev", "--digest", digest, "--from-store", &from, "--as", "ci"];
    let settings = settings(tmp.path(), true);
    settings.bind(|| {
        insta::assert_snapshot!("promote-dev", seen(&state, &promote));
        insta::assert_snapshot!(
            "promote-staging",
            seen(&state, &["promote", "web", "--to", "staging", "--as", "ci"])
        );
        insta::assert_snapshot!(
            "refusal",
            seen(&state, &["promote", "web", "--to", "prod", "--as", "ci"])
        );
        insta::assert_snapshot!("status", seen(&state, &["status"]));
        insta::assert_snapshot!("history", seen(&state, &["history", "staging"]));
        insta::assert_snapshot!("diff", seen(&state, &["diff", "dev", "staging"]));
        // A pin changed by hand: the audit's findings as people read them.
        let pin = state.join("state/staging/web.toml");
        let text = fs_err::read_to_string(&pin).unwrap().replace("by = \"ci\"", "by = \"mallory\"");
        fs_err::write(&pin, text).unwrap();
        baton_tests::git(&state, &["commit", "-q", "-am", "hand edit"]);
        insta::assert_snapshot!("audit-findings", seen(&state, &["audit"]));
    });
}

#[test]
fn help_of_baton_and_of_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["bundle"],
        &["bundle", "build"],
        &["bundle", "list"],
        &["bundle", "inspect"],
        &["bundle", "verify"],
        &["bundle", "unpack"],
        &["bundle", "copy"],
        &["bundle", "export"],
        &["bundle", "import"],
        &["init"],
        &["promote"],
        &["approve"],
        &["status"],
        &["diff"],
        &["history"],
        &["rollback"],
        &["plan"],
        &["apply"],
        &["drift"],
        &["agent"],
        &["audit"],
        &["verify"],
        &["sign"],
        &["evidence"],
    ];
    let settings = settings(tmp.path(), false);
    settings.bind(|| {
        for command in commands {
            let mut args = command.to_vec();
            args.push("--help");
            let name = if command.is_empty() {
                "help".to_owned()
            } else {
                format!("help-{}", command.join("-"))
            };
            let text = seen(tmp.path(), &args);
            assert!(text.starts_with("exit: 0"), "{text}");
            if !command.is_empty() {
                // The global options stand under their own heading, after the command's own.
                let own = text.find("Options:").unwrap_or(0);
                let global = text.find("Global options:").expect("a `Global options:` heading");
                assert!(own < global, "{text}");
            }
            insta::assert_snapshot!(name, text);
        }
    });
}
