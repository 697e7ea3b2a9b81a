//! Text from repositories and bundles reaches a terminal escaped: a commit subject, a
//! break-glass reason or a bundle description can neither move the cursor, retitle the window,
//! clear the screen nor forge a line of output.

use baton_tests::{World, stdout};

/// Every control byte a terminal acts on, and a right-to-left override.
const HOSTILE: &str = "INC\u{1b}]0;pwned\u{7} \u{1b}[2J\rfake\u{202e}gnp";

fn assert_inert(output: &str) {
    for c in output.chars() {
        assert!(
            !c.is_control() || c == '\n',
            "a raw control character {c:?} reached the output:\n{output}"
        );
        assert!(c != '\u{202e}', "a raw bidi override reached the output:\n{output}");
    }
    assert!(output.contains("\\x1b]0;pwned\\x07"), "{output}");
}

#[test]
fn a_hand_commit_subject_is_shown_escaped_by_the_audit() {
    let w = World::chain();
    let pin = w.state.join("state/prod/web.toml");
    let text = fs_err::read_to_string(&pin).unwrap().replace("by = \"ci\"", "by = \"mallory\"");
    fs_err::write(&pin, text).unwrap();
    w.commit(HOSTILE);
    let output = w.baton(&["audit"]);
    assert_eq!(output.status.code(), Some(4));
    assert_inert(&stdout(&output));
}

#[test]
fn a_break_glass_reason_is_shown_escaped() {
    let w = World::chain();
    let from = w.build_store();
    let digest = w.build("9.9.9", |_| {});
    let reason = format!("{HOSTILE}\nerror [hand-edit] forged line");
    w.break_glass(&digest, &from, &reason, "oncall");
    let output = w.baton(&["audit"]);
    let text = stdout(&output);
    assert_inert(&text);
    assert!(
        !text.lines().any(|l| l.starts_with("error [hand-edit] forged line")),
        "a reason forged a finding line:\n{text}"
    );
}

#[test]
fn a_bundle_description_is_shown_escaped_by_inspect() {
    let w = World::new();
    let escaped = "storefront \\u001b]0;pwned\\u0007 \\u001b[2J\\rfake\\u202egnp";
    let digest = w.build("7.0.0", |dir| {
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest).unwrap().replacen(
            "description = \"nginx site for the storefront\"",
            &format!("description = \"{escaped}\""),
            1,
        );
        fs_err::write(&manifest, text).unwrap();
    });
    let reference = format!("{}/web@{digest}", w.build_store());
    let output = w.baton(&["bundle", "inspect", &reference]);
    assert!(output.status.success(), "{}", baton_tests::stderr(&output));
    assert_inert(&stdout(&output));
}

/// Log lines (`-v`) follow `--color`: none of them carries an escape sequence with `never`, or
/// when stderr is not a terminal; `always` colours them.
#[test]
fn log_lines_obey_the_colour_choice() {
    let w = World::new();
    w.pin("dev", &w.web);
    let stderr_of = |args: &[&str]| baton_tests::stderr(&w.baton(args));
    let never = stderr_of(&["apply", "dev", "-vv", "--color", "never"]);
    assert!(never.contains("DEBUG") || never.contains("INFO"), "no log line: {never}");
    assert!(!never.contains('\u{1b}'), "an escape sequence with --color never: {never:?}");
    let auto = stderr_of(&["drift", "dev", "-vv"]);
    assert!(!auto.contains('\u{1b}'), "an escape sequence on a pipe: {auto:?}");
    let always = stderr_of(&["drift", "dev", "-vv", "--color", "always"]);
    assert!(always.contains('\u{1b}'), "--color always coloured nothing: {always:?}");
}
