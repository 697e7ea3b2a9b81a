//! Shell completions, loaded by a real bash: `source <(baton completions bash)` defines the
//! completion, and completing `baton pro` offers `promote`; the manual pages, rendered by a real
//! `man -l`; every schema as committed.

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

/// `baton schema` lists every schema in `schemas/` and prints each exactly as committed;
/// `baton.toml`, `bundle.toml` and an output's bare name find theirs.
#[test]
fn every_schema_prints_as_committed() {
    let dir = tempfile::tempdir().unwrap();
    let listed = baton_tests::run(dir.path(), &["schema", "--output", "json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let names: Vec<String> = serde_json::from_slice(&listed.stdout).unwrap();
    let root = baton_tests::repo_root().join("schemas");
    let mut files = Vec::new();
    for sub in ["", "output/"] {
        for entry in fs_err::read_dir(root.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(stem) = name.strip_suffix(".schema.json") {
                files.push(format!("{sub}{stem}"));
            }
        }
    }
    files.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, files, "baton schema lists every file of schemas/");
    for name in &names {
        let printed = baton_tests::run(dir.path(), &["schema", name]);
        assert!(printed.status.success(), "{name}: {}", stderr(&printed));
        let committed = fs_err::read(root.join(format!("{name}.schema.json"))).unwrap();
        assert_eq!(printed.stdout, committed, "{name}");
    }
    for (alias, name) in
        [("baton.toml", "baton"), ("bundle.toml", "bundle"), ("status", "output/status")]
    {
        let printed = baton_tests::run(dir.path(), &["schema", alias]);
        let committed = fs_err::read(root.join(format!("{name}.schema.json"))).unwrap();
        assert_eq!(printed.stdout, committed, "{alias}");
    }
    let unknown = baton_tests::run(dir.path(), &["schema", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no schema `nope`"), "{}", stderr(&unknown));
}

/// `baton man` is a page `man -l` renders, and `--dir` writes one per command.
#[test]
fn man_renders_the_manual_pages() {
    let dir = tempfile::tempdir().unwrap();
    let man = |page: &std::path::Path| {
        let output = std::process::Command::new("man")
            .arg("-l")
            .arg(page)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(output.status.success(), "man -l {}: {}", page.display(), stderr(&output));
        stdout(&output)
    };
    let output = baton_tests::run(dir.path(), &["man"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = dir.path().join("baton.1");
    fs_err::write(&page, &output.stdout).unwrap();
    let text = man(&page);
    assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
    assert!(text.contains("promote") && text.contains("render"), "{text}");
    let pages = dir.path().join("pages");
    let output = baton_tests::run(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = man(&pages.join("baton-promote.1"));
    assert!(text.contains("baton-promote") && text.contains("--break-glass"), "{text}");
    assert!(pages.join("baton-bundle-build.1").is_file());
}
