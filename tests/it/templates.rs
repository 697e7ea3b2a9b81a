//! The filters templates need for YAML, JSON and Kubernetes (`tojson`, `b64encode`, `indent`,
//! `sha256`), rendered by a real apply and read back by a real YAML parser (`PyYAML`), with a
//! value full of quotes, colons, a comment sign and newlines.

use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use sha2::Digest as _;

use baton_tests::{SECRET, World, python, stderr, stdout};
use serde_json::Value;

/// A value that breaks YAML when pasted in as it is.
const MOTD: &str = "say \"hi\": it's {not} a map # nor a comment\n- nor a list\n\ttabbed";

/// A manifest of a `Secret` and a `ConfigMap` rendered from web's params.
const MANIFEST: &str = r"apiVersion: v1
kind: Secret
metadata:
  name: web-tls
  annotations:
    checksum/server-name: {{ params.server_name | sha256 }}
type: Opaque
data:
  tls.key: {{ params.tls_key | b64encode }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-motd
data:
  host: {{ params.server_name }}
  motd: {{ params.motd | tojson }}
  banner: |
{{ params.motd | indent(4, true) }}
  ports: {{ [params.listen_port, 443] | tojson }}
";

/// Reads every YAML document of `path` with `PyYAML`; prints them as one JSON array.
const READ: &str = r"
import json, sys, yaml
print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))
";

#[test]
fn yaml_filled_by_filters_parses_with_every_value_intact() {
    let w = World::new();
    let digest = w.build("1.5.0", |dir| {
        fs_err::write(dir.join("conf/app.yaml"), MANIFEST).unwrap();
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest)
            .unwrap()
            .replace("render = [\"conf/*.conf\"]", "render = [\"conf/*.conf\", \"conf/*.yaml\"]");
        let motd = serde_json::to_string(MOTD).unwrap();
        let text = format!("{text}\n[params.motd]\ntype = \"string\"\ndefault = {motd}\n");
        fs_err::write(&manifest, text).unwrap();
    });
    w.pin("dev", &digest);
    w.ok(&["apply", "dev"]);
    let rendered = w.state.join("deploy/dev/web/current/conf/app.yaml");
    let script = w.dir().join("read.py");
    fs_err::write(&script, READ).unwrap();
    let output = std::process::Command::new(python()).arg(&script).arg(&rendered).output().unwrap();
    assert!(output.status.success(), "PyYAML: {}{}", stdout(&output), stderr(&output));
    let documents: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    // A `.yaml` file is not escaped: a plain value renders as written.
    let text = fs_err::read_to_string(&rendered).unwrap();
    assert!(text.contains("\n  host: dev.shop.example.com\n"), "{text}");
    let [secret, config] = documents.as_slice() else { panic!("two documents: {documents:?}") };

    let key = secret["data"]["tls.key"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD.decode(key).unwrap();
    assert_eq!(decoded, SECRET.as_bytes(), "b64encode of the secret decodes to it");
    let checksum = hex::encode(sha2::Sha256::digest(b"dev.shop.example.com"));
    assert_eq!(secret["metadata"]["annotations"]["checksum/server-name"], checksum.as_str());
    assert_eq!(config["data"]["motd"], MOTD, "tojson quotes for YAML");
    assert_eq!(config["data"]["banner"], format!("{MOTD}\n"), "indent keeps a block scalar");
    assert_eq!(config["data"]["ports"], serde_json::json!([8080, 443]));
    // The file read a secret: its owner only.
    let mode = fs_err::metadata(&rendered).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// A template that does not parse, or uses a filter or test nobody defined, is refused when the
/// bundle is built, naming the file and line, and nothing is written to the store.
#[test]
fn a_broken_template_is_refused_at_build_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let descriptor = baton_tests::example(dir.path(), "web");
    let conf = descriptor.join("conf");
    fs_err::write(conf.join("syntax.conf"), "listen 80;\n\n{% if params.listen_port %}\nopen\n")
        .unwrap();
    fs_err::write(
        conf.join("filter.conf"),
        "# fine\nserver_name {{ params.server_name | shout }};\n{% if 1 is odd_number %}x{% endif %}\n",
    )
    .unwrap();
    // Not a template (no render glob matches it): never parsed.
    fs_err::write(conf.join("notes.txt"), "{% this is not jinja %}\n").unwrap();
    let store = dir.path().join("store");
    let target = format!("oci:{}", store.display());
    let refused = || {
        let args = ["bundle", "build", descriptor.to_str().unwrap(), "--store", &target];
        let output = baton_tests::run(dir.path(), &args);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        stderr(&output)
    };
    let said = refused();
    assert!(said.contains("conf/syntax.conf:3: syntax error"), "{said}");
    assert!(said.contains("conf/filter.conf:2: unknown filter"), "{said}");
    assert!(!said.contains("notes.txt"), "{said}");
    assert!(!store.join("web").exists(), "nothing was written");

    fs_err::remove_file(conf.join("syntax.conf")).unwrap();
    fs_err::write(conf.join("filter.conf"), "{% if 1 is odd_number %}x{% endif %}\n").unwrap();
    let said = refused();
    assert!(said.contains("conf/filter.conf:1: unknown test"), "{said}");
}

/// A template that needs a parameter prod's params do not give builds (the build cannot know
/// prod's values) and renders in dev and staging, and is refused at the promotion to prod
/// (exit 3) naming file, line and environment, before a byte is copied; given the value, the
/// same digest promotes.
#[test]
fn an_undefined_parameter_for_prod_is_refused_at_promote_before_any_copy() {
    let w = World::new();
    let digest = w.build("1.6.0", |dir| {
        let conf = dir.join("conf/nginx.conf");
        let text = fs_err::read_to_string(&conf).unwrap();
        fs_err::write(
            &conf,
            format!("{text}\n{{% if env.name == \"prod\" %}}\n# cdn {{{{ params.cdn_host }}}}\n{{% endif %}}\n"),
        )
        .unwrap();
        let manifest = dir.join("bundle.toml");
        let text = fs_err::read_to_string(&manifest).unwrap();
        fs_err::write(&manifest, format!("{text}\n[params.cdn_host]\ntype = \"string\"\n")).unwrap();
    });
    let line = fs_err::read_to_string(w.dir().join("src-1.6.0/conf/nginx.conf"))
        .unwrap()
        .lines()
        .position(|l| l.contains("cdn_host"))
        .unwrap()
        + 1;
    w.pin("dev", &digest);
    w.ok(&["promote", "web", "--to", "staging", "--as", "ci"]);
    w.ok(&["approve", "web", "--env", "prod", "--as", "alice"]);
    w.ok(&["approve", "web", "--env", "prod", "--as", "bob"]);
    let output = w.baton(&["promote", "web", "--to", "prod", "--as", "ci", "--output", "json"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let document: baton::document::ErrorDocument = baton_tests::stdout_typed(&output);
    let message = &document.error.message;
    assert!(message.contains(&format!("conf/nginx.conf:{line}")), "{message}");
    assert!(message.contains("`prod`") && message.contains("params/prod/web.toml"), "{message}");
    assert!(message.contains("undefined"), "{message}");
    assert!(document.error.hint.as_deref().is_some_and(|h| h.contains("params/prod/web.toml")));
    let prod_store = w.state.join("stores/prod/web");
    let hex = digest.trim_start_matches("sha256:");
    assert!(!prod_store.join("blobs/sha256").join(hex).exists(), "nothing was copied");
    assert!(!w.state.join("state/prod/web.toml").exists(), "prod pins nothing");

    let params = w.state.join("params/prod/web.toml");
    let text = fs_err::read_to_string(&params).unwrap();
    fs_err::write(&params, format!("{text}cdn_host = \"cdn.shop.example.com\"\n")).unwrap();
    w.commit("prod: the CDN host");
    w.ok(&["promote", "web", "--to", "prod", "--as", "ci"]);
    w.ok(&["apply", "prod"]);
    let applied = fs_err::read_to_string(w.state.join("deploy/prod/web/current/conf/nginx.conf"));
    assert!(applied.unwrap().contains("# cdn cdn.shop.example.com"));
}
