//! Shell completions, loaded by a real bash: `source <(baton completions bash)` defines the
//! completion, and completing `baton pro` offers `promote`.

use baton_tests::{baton_bin, stderr, stdout};

#[test]
fn bash_loads_the_completions_and_completes_a_command() {
    let script = format!(
        "source <('{bin}' completions bash) && complete -p baton && COMP_WORDS=(baton pro) && COMP_CWORD=1 && COMP_LINE='baton pro' && COMP_POINT=9 && _baton baton pro baton && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bin = baton_bin().display()
    );
    let output = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let said = stdout(&output);
    assert!(said.contains("-F _baton baton"), "{said}");
    assert!(said.lines().any(|l| l == "promote"), "{said}");
    let dir = tempfile::tempdir().unwrap();
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = baton_tests::run(dir.path(), &["completions", shell]);
        assert!(
            output.status.success() && !output.stdout.is_empty(),
            "{shell}: {}",
            stderr(&output)
        );
    }
}
