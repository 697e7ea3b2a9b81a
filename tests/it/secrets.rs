//! Secrets cannot be reached, derived or shown: references only for parameters declared secret,
//! `from_file` confined to the secrets directory, every file whose rendering read a secret kept
//! 0600, hashed under the target's key and hidden from plans, masking of every line and line end
//! before anything is cut, and one secret run through every command and searched for in every
//! byte baton wrote or printed.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use baton_apply::Plan;
use baton_target::{FileHash, read_record, tree_digest};
use baton_tests::{SECRET, World, git, stderr, stdout};
use sha2::{Digest as _, Sha256};

/// Writes web's params for `env` and commits them by hand (a promotion then takes them).
fn set_params(w: &World, env: &str, tls_key: &str) {
    let text = format!(
        "server_name = \"{env}.shop.example.com\"\nlog_level = \"debug\"\ntls_key = {tls_key}\n"
    );
    fs_err::write(w.state.join(format!("params/{env}/web.toml")), text).unwrap();
    w.commit(&format!("params of web in {env}"));
}

/// Gives `env` the secrets directory `dir` in baton.toml, and every other environment none,
/// and commits it.
fn only_secrets_dir(w: &World, env: &str, dir: &Path) {
    let path = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&path)
        .unwrap()
        .replace("secrets_dir = \"/run/secrets\"\n", "")
        .replace(
            &format!("name = \"{env}\"\n"),
            &format!("name = \"{env}\"\nsecrets_dir = \"{}\"\n", dir.display()),
        );
    fs_err::write(&path, text).unwrap();
    w.commit(&format!("{env} reads secrets from {}", dir.display()));
}

/// A variant of web whose `conf/*.key` files render too, with `files` added.
fn build_with(w: &World, version: &str, files: &[(&str, &str)]) -> String {
    w.build(version, |dir| {
        for (path, text) in files {
            fs_err::write(dir.join(path), text).unwrap();
        }
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest)
            .unwrap()
            .replace("render = [\"conf/*.conf\"]", "render = [\"conf/*.conf\", \"conf/*.key\"]");
        fs_err::write(&manifest, text).unwrap();
    })
}

fn current(w: &World, env: &str) -> PathBuf {
    w.state.join(format!("deploy/{env}/web/current"))
}

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Promotes `digest` to dev as `ci` and returns what the promotion printed on stderr and stdout.
fn promote_dev(w: &World, digest: &str) -> std::process::Output {
    let from = w.build_store();
    w.baton(&[
        "promote",
        "web",
        "--to",
        "dev",
        "--digest",
        digest,
        "--from-store",
        &from,
        "--as",
        "ci",
    ])
}

#[test]
fn a_reference_is_refused_for_a_parameter_not_declared_secret() {
    let w = World::new();
    for reference in ["{ from_env = \"WEB_TLS_KEY\" }", "{ from_file = \"name\" }"] {
        let params =
            format!("server_name = {reference}\ntls_key = {{ from_env = \"WEB_TLS_KEY\" }}\n");
        fs_err::write(w.state.join("params/dev/web.toml"), params).unwrap();
        w.commit("a reference for a plain parameter");
        let output = promote_dev(&w, &w.web);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains("params/dev/web.toml"), "{err}");
        assert!(
            err.contains("`server_name` is a reference, but only a parameter declared `secret = true` in bundle.toml may be read"),
            "{err}"
        );
        assert!(!err.contains(SECRET), "{err}");
    }
    // Nothing was pinned, so nothing renders it.
    assert!(!w.state.join("state/dev/web.toml").exists());
}

#[test]
fn from_file_reads_only_below_the_secrets_directory() {
    let w = World::new();
    let secrets = w.dir().join("secrets");
    fs_err::create_dir_all(secrets.join("..2026_12_01")).unwrap();
    fs_err::write(secrets.join("tls.key"), "file-secret-0a9b8c7d\n").unwrap();
    fs_err::write(w.dir().join("outside.key"), "outside-secret-11223344\n").unwrap();
    // Kubernetes' secret volumes: links inside the directory, which are followed.
    fs_err::write(secrets.join("..2026_12_01/tls.key"), "volume-secret-55667788\n").unwrap();
    std::os::unix::fs::symlink("..2026_12_01", secrets.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tls.key", secrets.join("volume.key")).unwrap();
    // Links that lead out, relative and absolute.
    std::os::unix::fs::symlink("../outside.key", secrets.join("escape.key")).unwrap();
    std::os::unix::fs::symlink(w.dir().join("outside.key"), secrets.join("absolute.key")).unwrap();
    fs_err::write(secrets.join("big.key"), "x".repeat(100 << 10)).unwrap();
    only_secrets_dir(&w, "dev", &secrets);
    let digest = build_with(&w, "1.5.0", &[("conf/tls.key", "{{ params.tls_key }}\n")]);
    let rendered = current(&w, "dev").join("conf/tls.key");

    for (reference, value) in [
        ("{ from_file = \"tls.key\" }".to_owned(), "file-secret-0a9b8c7d"),
        (
            format!("{{ from_file = \"{}\" }}", secrets.join("tls.key").display()),
            "file-secret-0a9b8c7d",
        ),
        ("{ from_file = \"volume.key\" }".to_owned(), "volume-secret-55667788"),
    ] {
        set_params(&w, "dev", &reference);
        w.pin("dev", &digest);
        w.ok(&["apply", "dev"]);
        assert_eq!(fs_err::read_to_string(&rendered).unwrap(), format!("{value}\n"), "{reference}");
    }
    let kept = fs_err::read_link(current(&w, "dev")).unwrap();

    // Lexically outside: refused at promote, naming the parameter.
    for (reference, says) in [
        ("{ from_file = \"../outside.key\" }".to_owned(), "holds `.` or `..`"),
        ("{ from_file = \"/etc/hostname\" }".to_owned(), "lies outside the secrets directory"),
        (
            format!("{{ from_file = \"{}/../outside.key\" }}", secrets.display()),
            "lies outside the secrets directory",
        ),
    ] {
        set_params(&w, "dev", &reference);
        let output = promote_dev(&w, &digest);
        assert_eq!(output.status.code(), Some(1), "{reference}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains("`tls_key` reads ") && err.contains(says), "{reference}: {err}");
    }
    // Through a link, or too large: refused at apply, and the target keeps what it has.
    for (reference, says) in [
        ("{ from_file = \"escape.key\" }", "leads out of the secrets directory"),
        ("{ from_file = \"absolute.key\" }", "leads out of the secrets directory"),
        ("{ from_file = \"big.key\" }", "larger than 65536 bytes"),
        ("{ from_file = \"missing.key\" }", "No such file"),
    ] {
        set_params(&w, "dev", reference);
        w.pin("dev", &digest);
        let err = w.fails(&["apply", "dev"], 1);
        assert!(err.contains("parameter `tls_key` in params/dev/web.toml"), "{reference}: {err}");
        assert!(err.contains(says), "{reference}: {err}");
        assert!(!err.contains("outside-secret"), "{reference}: {err}");
        assert_eq!(fs_err::read_link(current(&w, "dev")).unwrap(), kept, "{reference}");
    }

    // `--secrets-dir` replaces the directory baton.toml names.
    let other = w.dir().join("other-secrets");
    fs_err::create_dir_all(&other).unwrap();
    fs_err::write(other.join("tls.key"), "other-secret-99887766\n").unwrap();
    set_params(&w, "dev", "{ from_file = \"tls.key\" }");
    w.pin("dev", &digest);
    w.ok(&["apply", "dev", "--secrets-dir", other.to_str().unwrap()]);
    assert_eq!(fs_err::read_to_string(&rendered).unwrap(), "other-secret-99887766\n");

    // An environment without a secrets directory reads no file at all.
    set_params(&w, "staging", "{ from_file = \"tls.key\" }");
    w.pin("staging", &digest);
    let err = w.fails(&["apply", "staging"], 1);
    assert!(
        err.contains("from the secrets directory, but there is none: set `secrets_dir`"),
        "{err}"
    );
    set_params(
        &w,
        "staging",
        &format!("{{ from_file = \"{}\" }}", secrets.join("tls.key").display()),
    );
    let output = w.baton(&[
        "promote",
        "web",
        "--to",
        "staging",
        "--digest",
        &digest,
        "--from-store",
        &w.build_store(),
        "--as",
        "ci",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("names no `secrets_dir`"), "{}", stderr(&output));
}

#[test]
fn a_secret_shorter_than_eight_characters_is_refused() {
    let w = World::new();
    w.pin("dev", &w.web);
    let output = baton_tests::baton(&w.state)
        .args(["apply", "dev"])
        .env("BATON_CACHE", w.cache())
        .env("WEB_TLS_KEY", "k3y9z")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("parameter `tls_key` in params/dev/web.toml"), "{err}");
    assert!(err.contains("shorter than 8 characters"), "{err}");
    assert!(!err.contains("k3y9z"), "{err}");
    assert!(!current(&w, "dev").exists(), "nothing was applied");
}

/// A file that reads a secret through a slice, a filter, a loop over every parameter or a
/// computed name is 0600, hashed under the target's key (no plain hash of it anywhere), and
/// named but never shown by `plan`; files that read only names or plain values are not.
#[test]
fn a_file_that_reads_a_secret_by_any_means_is_private_keyed_and_hidden() {
    let w = World::new();
    let secret_files = [
        ("conf/slice.conf", "starts {{ params.tls_key[:4] | upper }}\n"),
        (
            "conf/all.conf",
            "{% for name, value in params|items %}{{ name }}={{ value|string|length }}\n{% endfor %}",
        ),
        ("conf/dynamic.conf", "{% set n = 'tls' ~ '_key' %}{{ params[n] | reverse }}\n"),
        ("conf/guarded.conf", "{% if params.tls_key is defined %}tls on{% endif %}\n"),
    ];
    let plain_files = [
        ("conf/plain.conf", "{{ params.server_name }}\n"),
        (
            "conf/names.conf",
            "{% for name in params %}{{ name }}\n{% endfor %}{{ params|length }}\n",
        ),
    ];
    let all: Vec<(&str, &str)> = secret_files.iter().chain(&plain_files).copied().collect();
    let digest = build_with(&w, "1.5.0", &all);
    w.pin("dev", &digest);
    let mut printed = String::new();
    let output = w.baton(&["apply", "dev", "-vvv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    printed += &(stdout(&output) + &stderr(&output));

    let record_path = w.state.join("deploy/dev/web/applied.json");
    let record = read_record(&record_path).unwrap().unwrap();
    assert_eq!(mode(&record_path), 0o600, "a record naming secret files is private");
    let mut plain_hashes = Vec::new();
    for (path, _) in secret_files {
        let file = current(&w, "dev").join(path);
        assert_eq!(mode(&file), 0o600, "{path}");
        let entry = &record.files[path];
        assert!(entry.keyed, "{path}");
        let plain = sha256_hex(&fs_err::read(&file).unwrap());
        assert_ne!(entry.sha256, plain, "{path}");
        plain_hashes.push(plain);
    }
    for (path, _) in plain_files {
        assert_ne!(mode(&current(&w, "dev").join(path)), 0o600, "{path}");
        assert!(!record.files[path].keyed, "{path}");
    }
    assert_eq!(mode(&w.state.join("deploy/dev/web/.key")), 0o600);
    // The release name and tree digest do not follow from a guess of the content.
    let guessed: baton_target::Tree = record
        .files
        .iter()
        .map(|(path, entry)| {
            let plain = sha256_hex(&fs_err::read(current(&w, "dev").join(path)).unwrap());
            let sha256 = if entry.keyed { plain } else { entry.sha256.clone() };
            (path.clone(), FileHash { sha256, kind: entry.kind, keyed: false })
        })
        .collect();
    assert_ne!(tree_digest(&guessed), record.tree_digest);
    assert!(!record.release.contains(&tree_digest(&guessed).short().to_string()));

    // Intact: drift is clean. Changed: drift names it, plan names it hidden, agent heals it.
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(0));
    let slice = current(&w, "dev").join("conf/slice.conf");
    fs_err::write(&slice, "starts EDIT\n").unwrap();
    let drift = w.fails(&["drift", "dev"], 4);
    assert!(drift.contains("changed conf/slice.conf"), "{drift}");
    let plans: Vec<Plan> = w.typed(&["plan", "dev"]);
    assert_eq!(plans[0].differences.changed, ["conf/slice.conf"]);
    assert_eq!(plans[0].hidden, ["conf/slice.conf"]);
    assert!(!plans[0].diff.contains("EDIT"), "{}", plans[0].diff);
    let human = stdout(&w.baton(&["plan", "dev"]));
    assert!(human.contains("Secret file conf/slice.conf differs (content hidden)"), "{human}");
    assert!(!human.contains("EDIT") && !human.contains("starts"), "{human}");
    printed += &human;
    w.ok(&["agent", "--env", "dev", "--once"]);
    assert_eq!(w.baton(&["drift", "dev"]).status.code(), Some(0));

    // No plain hash of a secret file anywhere on disk or in any output.
    let everything = all_bytes(w.dir()) + &printed;
    for plain in &plain_hashes {
        assert!(!everything.contains(plain.as_str()), "the plain hash {plain} was found");
    }
}

/// A multi-line secret is masked whole, with CR/LF line ends, and line by line, in the failure
/// of an exec target that prints it, in `-v` logs and in the log kept beside the release; and a
/// secret cut by the edge of the kept tail is not shown in part.
#[test]
fn masking_covers_every_line_and_line_end_before_anything_is_cut() {
    let w = World::new();
    let pem = "-----BEGIN TEST KEY-----\nAAAAbbbbCCCCdddd1234\nZZZZyyyyXXXXwwww5678\n-----END TEST KEY-----";
    let tail_secret = "tail-secret-Qz9Wk";
    let hook = r#"#!/bin/sh
echo "kubectl says: configured" >&2
cat conf/tls.key >&2
sed 's/$/\r/' conf/tls.key >&2
sed -n 3p conf/tls.key >&2
sed -n 3p conf/tls.key
printf 'A%.0s' $(seq 1 100)
printf '%s' "$TAIL"
head -c "$BCOUNT" /dev/zero | tr '\0' B
exit 3
"#;
    let digest = w.build("1.5.0", |dir| {
        fs_err::write(dir.join("conf/tls.key"), "{{ params.tls_key }}\n").unwrap();
        fs_err::write(dir.join("hook.sh"), hook).unwrap();
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest)
            .unwrap()
            .replace("render = [\"conf/*.conf\"]", "render = [\"conf/*.conf\", \"conf/*.key\"]")
            .replace(
                "[params.tls_key]",
                "[params.tail]\ntype = \"string\"\nsecret = true\n\n[params.tls_key]",
            );
        fs_err::write(&manifest, text).unwrap();
    });
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline).unwrap().replace(
        "target = { kind = \"dir\", path = \"deploy/staging\" }",
        "target = { kind = \"exec\", command = [\"sh\", \"hook.sh\"] }",
    );
    fs_err::write(&pipeline, text).unwrap();
    set_params(&w, "staging", "{ from_env = \"PEM_KEY\" }\ntail = { from_env = \"TAIL\" }");
    w.pin("dev", &digest);
    w.pin("staging", &digest);
    let output = baton_tests::baton(&w.state)
        .args(["apply", "staging", "-v"])
        .env("BATON_CACHE", w.cache())
        .env("BATON_APPLIED_DIR", w.dir().join("applied"))
        .env("PEM_KEY", pem)
        .env("TAIL", tail_secret)
        // The kept tail of stdout starts five bytes before the end of TAIL: its window is 4 MiB
        // and the longest masked text (the PEM with CR/LF line ends) long.
        .env("BCOUNT", ((4 << 20) + pem.len() + pem.matches('\n').count() - 5).to_string())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("failed (exit status: 3)"), "{}", &err[..err.len().min(4000)]);
    assert!(err.contains("***"), "{}", &err[..err.len().min(4000)]);
    // At -v every line the command printed is logged (masked), stdout and stderr.
    assert!(
        err.contains("command stderr: kubectl says: configured"),
        "{}",
        &err[..err.len().min(4000)]
    );
    assert!(err.contains("command stdout: BBBB"), "stdout is logged too");
    let releases = w.dir().join("applied/staging/web/.releases");
    let log = fs_err::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("the log beside the release");
    assert_eq!(mode(&log), 0o600);
    let kept = fs_err::read_to_string(&log).unwrap();
    assert!(kept.contains("== command: sh hook.sh: failed (exit status: 3)"), "{}", &kept[..400]);
    assert!(
        kept.contains("== stderr\nkubectl says: configured\n***\n***\r\n***\n"),
        "whole, CR/LF, alone: {}",
        &kept[..400]
    );
    assert!(kept.len() < (4 << 20) + 4096, "the log keeps the tail");
    for text in [&err, &kept] {
        for part in
            ["AAAAbbbbCCCCdddd1234", "ZZZZyyyyXXXXwwww5678", "BEGIN TEST KEY", "Qz9Wk", "Wk", "k"]
        {
            let shown = if part.len() <= 2 {
                // What the edge of the tail left of the secret: nothing before the Bs.
                text.contains(&format!("{part}BBBB"))
            } else {
                text.contains(part)
            };
            assert!(!shown, "`{part}` was shown");
        }
    }
}

/// Every byte under `dir`, as text (invalid UTF-8 lossily), with git's objects decompressed.
fn all_bytes(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                text += &String::from_utf8_lossy(&fs_err::read(entry.path()).unwrap());
                text.push('\n');
            }
        }
    }
    text
}

/// Every object in the state repository's git, decompressed.
fn git_objects(state: &Path) -> String {
    let output = std::process::Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch", "--unordered"])
        .current_dir(state)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One secret through every command, human and JSON, `-vvv`, failures included (a render error
/// that names it, an exec target that echoes it): it is found only in the rendered files that
/// use it, and neither it nor a plain hash of it or of those files anywhere else.
#[test]
fn a_secret_run_through_every_command_is_found_only_where_it_is_used() {
    let w = World::new();
    let digest = build_with(&w, "1.5.0", &[("conf/tls.key", "{{ params.tls_key }}\n")]);
    let mut printed = String::new();
    let mut run = |args: &[&str], code: i32| {
        for output in [vec![], vec!["--output", "json"]] {
            let all: Vec<&str> = args.iter().copied().chain(["-vvv"]).chain(output).collect();
            let result = w.baton(&all);
            assert_eq!(result.status.code(), Some(code), "{all:?}: {}", stderr(&result));
            printed += &stdout(&result);
            printed += &stderr(&result);
        }
    };
    let from = w.build_store();
    run(
        &[
            "promote",
            "web",
            "--to",
            "dev",
            "--digest",
            &digest,
            "--from-store",
            &from,
            "--as",
            "ci",
        ],
        0,
    );
    run(&["plan", "dev"], 0);
    run(&["apply", "dev"], 0);
    run(&["drift", "dev"], 0);
    run(&["agent", "--env", "dev", "--once"], 0);
    fs_err::write(current(&w, "dev").join("conf/tls.key"), "tampered\n").unwrap();
    run(&["drift", "dev"], 4);
    run(&["plan", "dev"], 0);
    run(&["agent", "--env", "dev", "--once"], 0);
    run(&["status"], 0);
    run(&["history", "dev"], 0);
    run(&["diff", "dev", "staging"], 0);
    run(&["audit", "--targets"], 0);
    // Failures: an exec target that echoes the secret, and a render error that would quote it.
    let pipeline = w.state.join("baton.toml");
    let text = fs_err::read_to_string(&pipeline).unwrap().replace(
        "target = { kind = \"dir\", path = \"deploy/staging\" }",
        "target = { kind = \"exec\", command = [\"sh\", \"-c\", \"cat conf/tls.key; cat conf/tls.key >&2; exit 1\"] }",
    );
    fs_err::write(&pipeline, text).unwrap();
    w.commit("staging runs a command that echoes its key");
    w.pin("staging", &digest);
    run(&["apply", "staging"], 1);
    run(&["agent", "--env", "staging", "--once"], 1);
    let hostile = build_with(
        &w,
        "1.6.0",
        &[
            ("conf/tls.key", "{{ params.tls_key }}\n"),
            // Parses, so the build takes it; fails when the secret is there to convert.
            ("conf/include.conf", "{{ params.tls_key | int }}\n"),
        ],
    );
    w.pin("dev", &hostile);
    run(&["apply", "dev"], 1);
    run(&["plan", "dev"], 1);

    assert!(printed.contains("***"), "the echoed secret was masked, not dropped");
    assert!(!printed.contains(SECRET), "a secret was printed");
    let rendered = format!("{SECRET}\n");
    let hashes = [sha256_hex(SECRET.as_bytes()), sha256_hex(rendered.as_bytes())];
    for hash in &hashes {
        assert!(!printed.contains(hash.as_str()), "a plain hash of the secret was printed");
    }
    // On disk: only the rendered key files, each 0600, below a release directory.
    let grep =
        std::process::Command::new("grep").args(["-rlF", SECRET]).arg(w.dir()).output().unwrap();
    for hit in String::from_utf8_lossy(&grep.stdout).lines() {
        assert!(
            hit.ends_with("/conf/tls.key") && hit.contains("/.releases/"),
            "the secret landed in {hit}"
        );
        assert_eq!(mode(Path::new(hit)), 0o600, "{hit}");
    }
    let everything =
        all_bytes(w.dir()) + &git_objects(&w.state) + &git(&w.state, &["log", "-p", "--all"]);
    for hash in &hashes {
        assert!(!everything.contains(hash.as_str()), "a plain hash of the secret was written");
    }
}
