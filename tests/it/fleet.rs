//! Targets that verify and report back: two real nginx targets of staging, each kept by its own
//! agent process (its own directory, target id and SSH key), with a `curl` of a health page the
//! bundle provides as their check; prod's `verified` gate waits for both reports, then for the
//! soak counted from the later one. Reports are verified by securesystemslib; forged, misfiled
//! and late reports are refused by the gate and found by the audit.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use baton_apply::PassReport;
use baton_model::{RecordedVerification, StateRecord, StoreLocation};
use baton_state::SigningKey;
use baton_store::{Store, evidence, referrers};
use baton_tests::{GitServer, Nginx, World, baton_process, ssh_key, stderr, stdout};
use baton_view::{
    HistoryEntry, ReportAction, RunState, Running, StatusRow, TARGET_ANNOTATION, TargetReport,
    TestResult,
};
use serde_json::Value;

/// The soak prod waits after the later staging verification: long enough that the promotion
/// right after the second report is refused for it, short enough to wait out.
const SOAK_SECONDS: u64 = 6;

/// dev with no checks; staging expects web-1 and web-2, each checking the health page its own
/// nginx serves (`WEB_PORT` is the agent's); prod waits for both and the soak.
fn pipeline(stores: &Path, soak: bool, silent_after: &str) -> String {
    let soak = if soak { format!(", soak = \"{SOAK_SECONDS}s\"") } else { String::new() };
    format!(
        r#"
[[environment]]
name = "dev"
store = "oci:{stores}/dev"
target = {{ kind = "dir", path = "deploy/dev" }}

[[environment]]
name = "staging"
store = "oci:{stores}/staging"
targets = ["web-1", "web-2"]
silent_after = "{silent_after}"
target = {{ kind = "dir", path = "deploy/staging", verify = {{ name = "health", command = ["sh", "-c", "curl -fsS http://127.0.0.1:$WEB_PORT/health.txt"], timeout = "10s", retries = 1, interval = "1s" }} }}

[[environment]]
name = "prod"
store = "oci:{stores}/prod"
target = {{ kind = "dir", path = "deploy/prod" }}
gates = {{ verified = "all"{soak} }}
"#,
        stores = stores.display()
    )
}

/// One staging host: its directory (the agent's working directory, where `deploy/staging`
/// lives), its private key (the public one beside it, `.pub`) and its nginx.
struct Host {
    id: String,
    dir: PathBuf,
    key: PathBuf,
    nginx: Nginx,
}

/// The world of these tests: the state repository (signed by `ci`), two staging hosts.
struct Fleet {
    w: World,
    keys: PathBuf,
    ci: PathBuf,
    hosts: Vec<Host>,
}

impl Fleet {
    fn new() -> Fleet {
        Fleet::with(true, "1h")
    }

    /// [`Fleet::new`], with prod's soak or without it, and staging's `silent_after`.
    fn with(soak: bool, silent_after: &str) -> Fleet {
        let w = World::new();
        let keys = w.dir().join("keys");
        fs_err::create_dir_all(&keys).unwrap();
        let (ci, ci_pub) = ssh_key(&keys, "ci");
        let mut signers = format!("ci {ci_pub}\n");
        let mut hosts = Vec::new();
        for id in ["web-1", "web-2"] {
            let dir = w.dir().join("hosts").join(id);
            fs_err::create_dir_all(&dir).unwrap();
            let (key, public) = ssh_key(&keys, id);
            writeln!(signers, "{id}@staging.target {public}").unwrap();
            let root = dir.join("deploy/staging/web/current/html");
            let nginx = Nginx::start(&w.dir().join("nginx").join(id), &root);
            hosts.push(Host { id: id.to_owned(), dir, key, nginx });
        }
        fs_err::write(
            w.state.join("baton.toml"),
            pipeline(&w.dir().join("stores"), soak, silent_after),
        )
        .unwrap();
        fs_err::create_dir_all(w.state.join(".baton")).unwrap();
        fs_err::write(w.state.join(".baton/allowed_signers"), signers).unwrap();
        w.commit("staging reports back; prod waits for it");
        Fleet { w, keys, ci, hosts }
    }

    /// web at `version`, with a health page saying `ok` when `healthy`, built into `oci:build`.
    fn build(&self, version: &str, healthy: bool) -> String {
        self.w.build(version, |dir| {
            if healthy {
                fs_err::write(dir.join("html/health.txt"), "ok\n").unwrap();
            }
        })
    }

    /// `baton promote web --to ENV` as ci, signed; the JSON, or the exit code and text.
    fn promote(&self, env: &str, digest: Option<&str>) -> Result<Value, (i32, String)> {
        let ci = self.ci.display().to_string();
        let from = self.w.build_store();
        let mut args = vec!["promote", "web", "--to", env, "--as", "ci", "--sign-key", &ci];
        if let Some(digest) = digest {
            args.extend(["--digest", digest, "--from-store", &from]);
        }
        args.extend(["--output", "json"]);
        let output = self.w.baton(&args);
        match output.status.code() {
            Some(0) => Ok(serde_json::from_slice(&output.stdout).unwrap()),
            code => Err((code.unwrap_or(-1), stdout(&output) + &stderr(&output))),
        }
    }

    /// `digest` through dev to staging.
    fn to_staging(&self, digest: &str) {
        self.promote("dev", Some(digest)).unwrap();
        self.promote("staging", None).unwrap();
    }

    /// One `baton agent --once` pass of host `i` against the state repository as a URL (the
    /// agent mirrors it into its own cache), as a separate process; exit code and pass report.
    fn agent(&self, i: usize) -> (i32, PassReport) {
        self.agent_with(i, &[])
    }

    /// [`Fleet::agent`] with more arguments (`--no-heal`).
    fn agent_with(&self, i: usize, extra: &[&str]) -> (i32, PassReport) {
        let host = &self.hosts[i];
        let state = format!("file://{}", self.w.state.display());
        let output = baton_process(&host.dir)
            .args(["agent", "--env", "staging", "--once", "--state", &state, "--output", "json"])
            .args(extra)
            .env("BATON_TARGET_ID", &host.id)
            .env("BATON_SIGN_KEY", &host.key)
            .env("BATON_CACHE", host.dir.join("cache"))
            .env("BATON_APPLIED_DIR", host.dir.join("applied"))
            .env("WEB_TLS_KEY", baton_tests::SECRET)
            .env("WEB_PORT", host.nginx.port.to_string())
            .output()
            .unwrap();
        let mut passes: Vec<PassReport> =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!("agent {}: {e}: {}{}", host.id, stdout(&output), stderr(&output))
            });
        assert_eq!(passes.len(), 1, "staging pins one bundle: {passes:?}");
        (output.status.code().unwrap_or(-1), passes.remove(0))
    }

    /// What host `i`'s nginx serves at `/`.
    fn nginx_page(&self, i: usize) -> String {
        self.hosts[i].nginx.get("/")
    }

    fn pin(&self, env: &str) -> StateRecord {
        let path = self.w.state.join(format!("state/{env}/web.toml"));
        StateRecord::from_toml(&fs_err::read_to_string(path).unwrap()).unwrap()
    }

    /// Commits `record` as the pin of its environment, shaped as baton writes one, signed
    /// by ci.
    fn forge(&self, record: &StateRecord) {
        baton_tests::forge_signed(&self.w.state, record, &self.ci);
    }

    /// The audit's findings, as "severity check environment: expected; found" lines; and its
    /// exit code.
    fn audit(&self) -> (i32, Vec<String>) {
        let output = self.w.baton(&["audit", "--output", "json"]);
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let findings = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}: {}; {}",
                    f["severity"], f["check"], f["environment"], f["expected"], f["found"]
                )
            })
            .collect();
        (output.status.code().unwrap_or(-1), findings)
    }

    /// `baton status --output json`: staging's running state of web.
    fn running(&self) -> Running {
        let rows: Vec<StatusRow> = self.w.typed(&["status"]);
        let row = rows.into_iter().find(|r| r.environment.as_str() == "staging").unwrap();
        assert_eq!(row.running_error, None);
        row.running.expect("staging expects targets")
    }
}

/// Both staging targets reported `good` verified: securesystemslib verifies both reports,
/// `status` shows them running it, `history` shows them beside the pin.
fn both_verified(f: &Fleet, good: &str) {
    // Tools nobody here wrote verify both reports: securesystemslib checks each DSSE envelope
    // against the target's own SSH key, read by cryptography.
    let keys: Vec<String> =
        f.hosts.iter().map(|h| h.key.with_extension("pub").display().to_string()).collect();
    let stores = f.w.dir().join("stores/staging");
    let mut args = vec!["layout", stores.to_str().unwrap(), "web", good];
    args.extend(keys.iter().map(String::as_str));
    let reports: Vec<Value> = crate::evidence::verify(f.w.dir(), &args)
        .into_iter()
        .filter(|r| r["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1")
        .collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    for report in &reports {
        assert_eq!(report["verified"].as_array().unwrap().len(), 1, "{report}");
        assert_eq!(report["subject"], good.trim_start_matches("sha256:"), "{report}");
        assert_eq!(report["result"], "PASSED", "{report}");
    }
    assert_ne!(reports[0]["verified"], reports[1]["verified"], "each signed by its own key");
    let running = f.running();
    assert_eq!((running.converged, running.expected), (2, 2), "{running:?}");
    for target in &running.targets {
        assert_eq!(target.state, RunState::Verified, "{target:?}");
        assert_eq!(target.running.as_ref().map(ToString::to_string).as_deref(), Some(good));
    }
    let shown = f.w.baton(&["status"]);
    assert!(stdout(&shown).contains("running it on 2/2"), "{}", stdout(&shown));
    // history puts the reports beside the pin they are about.
    let history: Vec<HistoryEntry> = f.w.typed(&["history", "staging"]);
    let mut reporters: Vec<&str> = history[0].reports.iter().map(|r| r.target.as_str()).collect();
    reporters.sort_unstable();
    assert_eq!(reporters, ["web-1", "web-2"], "{history:?}");
    assert!(history[0].reports.iter().all(|r| r.result == Some(TestResult::Passed)));
    let shown = stdout(&f.w.baton(&["history", "staging"]));
    assert!(shown.contains("report: applied PASSED"), "{shown}");
}

#[test]
fn prod_waits_for_every_staging_target_to_verify_then_for_the_soak() {
    let f = Fleet::new();
    let good = f.build("1.5.0", true);
    f.to_staging(&good);

    let (code, text) = f.promote("prod", None).unwrap_err();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("not verified: `web-1`, `web-2`"), "{text}");
    let running = f.running();
    assert_eq!((running.converged, running.expected), (0, 2));
    assert!(running.targets.iter().all(|t| t.state == RunState::Unreported && !t.silent));
    let (code, findings) = f.audit();
    assert_eq!(code, 0, "a pin younger than silent_after is converging: {findings:?}");
    assert!(
        findings
            .iter()
            .any(|f| f.contains("\"notice\" \"running\"") && f.contains("not reported yet")),
        "{findings:?}"
    );

    let (code, pass) = f.agent(0);
    assert_eq!(code, 0, "{pass:?}");
    let verification = pass.verification.as_ref().expect("the checks ran");
    assert!(verification.passed(), "{verification:?}");
    assert!(pass.report.is_some(), "the agent wrote a report: {pass:?}");

    let (code, text) = f.promote("prod", None).unwrap_err();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("not verified: `web-2`"), "{text}");
    assert!(!text.contains("`web-1`,"), "{text}");

    let (code, pass) = f.agent(1);
    assert_eq!(code, 0, "{pass:?}");
    // An idle pass changes nothing and writes nothing.
    let listed = |f: &Fleet| referrer_count(&f.w.dir().join("stores/staging"), &good);
    let before = listed(&f);
    let (code, idle) = f.agent(1);
    assert_eq!(code, 0, "{idle:?}");
    assert!(idle.report.is_none(), "{idle:?}");
    assert_eq!(listed(&f), before, "an idle pass wrote a report");

    both_verified(&f, &good);

    // Both verified; the soak counts from the later verification, web-2's.
    let (code, text) = f.promote("prod", None).unwrap_err();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("soak"), "{text}");
    std::thread::sleep(Duration::from_secs(SOAK_SECONDS + 1));
    let promoted = f.promote("prod", None).unwrap();
    assert_eq!(promoted["digest"], good.as_str(), "{promoted}");
    let pin = f.pin("prod");
    let targets: Vec<&str> = pin.verifications.iter().map(|v| v.target.as_str()).collect();
    assert_eq!(targets, ["web-1", "web-2"], "the pin records the reports it relied on");
    let (code, findings) = f.audit();
    assert_eq!(code, 0, "{findings:?}");

    // A bundle whose health page is missing verifies FAILED on staging; prod refuses it.
    let broken = f.build("1.6.0", false);
    f.to_staging(&broken);
    for i in 0..2 {
        let (code, pass) = f.agent(i);
        assert_eq!(code, 4, "a failed verification exits 4: {pass:?}");
        assert!(!pass.verification.as_ref().unwrap().passed(), "{pass:?}");
    }
    let (code, text) = f.promote("prod", None).unwrap_err();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("not verified: `web-1`, `web-2`"), "{text}");
    assert!(text.contains("FAILED") || text.contains("failed"), "{text}");
    let running = f.running();
    assert_eq!(running.converged, 0, "{running:?}");
    for target in &running.targets {
        assert_eq!((target.state, target.result), (RunState::Failed, Some(TestResult::Failed)));
    }
    let shown = stdout(&f.w.baton(&["status"]));
    assert!(shown.contains("running it on 0/2") && shown.contains("failed"), "{shown}");
    let (code, findings) = f.audit();
    assert_eq!(code, 4, "{findings:?}");
    for id in ["web-1", "web-2"] {
        assert!(
            findings
                .iter()
                .any(|f| f.contains(&format!("`{id}` of `staging`")) && f.contains("FAILED")),
            "the audit finds {id} failed, from the reports alone: {findings:?}"
        );
    }
}

/// How many referrers the OCI layout of web in `store` lists for `digest` (its fallback tag).
fn referrer_count(store: &Path, digest: &str) -> usize {
    let layout = store.join("web");
    let tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let Some(entry) = baton_tests::layout_tag(&layout, &tag) else {
        return 0;
    };
    let hex = entry.trim_start_matches("sha256:");
    let referrers: Value = serde_json::from_str(
        &fs_err::read_to_string(layout.join("blobs/sha256").join(hex)).unwrap(),
    )
    .unwrap();
    referrers["manifests"].as_array().unwrap().len()
}

/// A target that drifts and is not healed (`--no-heal`) reports the drift: `status` shows it
/// drifted, the audit finds it from the store alone; the next pass that heals it verifies again
/// and reports that, and the target is verified once more.
#[test]
fn drift_left_alone_is_reported_and_found_and_a_heal_reports_back() {
    let f = Fleet::with(false, "1h");
    let good = f.build("1.5.0", true);
    f.to_staging(&good);
    assert_eq!(f.agent(0).0, 0);
    assert_eq!(f.agent(1).0, 0);
    let page = f.hosts[0].dir.join("deploy/staging/web/current/html/index.html");
    fs_err::write(&page, "<p>changed by hand on web-1</p>\n").unwrap();

    let (code, pass) = f.agent_with(0, &["--no-heal"]);
    assert_eq!(code, 4, "drift left alone exits 4: {pass:?}");
    assert!(pass.report.is_some(), "the drift is reported: {pass:?}");
    let running = f.running();
    let web_1 = running.targets.iter().find(|t| t.target.as_str() == "web-1").unwrap();
    assert_eq!(web_1.state, RunState::Drifted, "{running:?}");
    assert_eq!(running.converged, 1, "{running:?}");
    let (code, findings) = f.audit();
    assert_eq!(code, 4, "{findings:?}");
    assert!(
        findings.iter().any(|f| f.contains("`web-1` of `staging`") && f.contains("drift")),
        "{findings:?}"
    );
    // Reported once: a second pass that still leaves it writes nothing more.
    let (_, again) = f.agent_with(0, &["--no-heal"]);
    assert!(again.report.is_none(), "{again:?}");

    let (code, healed) = f.agent(0);
    assert_eq!(code, 0, "{healed:?}");
    assert!(
        healed.verification.as_ref().is_some_and(baton_apply::Verification::passed),
        "{healed:?}"
    );
    assert!(healed.report.is_some(), "the heal is reported: {healed:?}");
    assert!(f.nginx_page(0).contains("release 1.5.0"), "nginx serves the healed page");
    let running = f.running();
    assert_eq!((running.converged, running.expected), (2, 2), "{running:?}");
    let (code, findings) = f.audit();
    assert_eq!(code, 0, "{findings:?}");
}

/// A report written as an agent would write it, into `store` (an OCI layout), annotated as a
/// report of `staging/ID`, signed with `key`; returns the referrer's digest.
fn plant(store: &Path, report: &TargetReport, key: &Path) -> String {
    let location = StoreLocation::Layout(store.to_owned());
    let store = Store::open(&location, &baton_tests::registry_options()).unwrap();
    let subject = referrers::subject_of(&store, &report.bundle, &report.digest).unwrap();
    let key = SigningKey::load(key).unwrap().evidence_key().unwrap();
    let annotation = format!("staging/{}", report.target);
    let descriptor = evidence::attach_attestation(
        &store,
        &report.bundle,
        &subject,
        &report.statement(),
        (report.predicate_type(), report.at),
        &[(TARGET_ANNOTATION, annotation.as_str())],
        Some(&key),
    )
    .unwrap();
    descriptor.digest.to_string()
}

/// Reports no gate may count and the audit must find: signed by a key not listed for the
/// target, rendered with other params, made by a dev target and filed under staging, dated
/// after the promotion. Each is refused by prod's gate; a pin that records them is found.
/// The four reports of [`forged_misfiled_and_late_reports_are_refused_by_the_gate_and_found_by_the_audit`],
/// planted in staging's store beside what the agents write.
struct Planted {
    /// web-1's, signed by a key nobody listed.
    wrong_key: String,
    /// web-2's, rendered with params staging does not pin.
    other_params: String,
    /// A dev target's, filed under staging.
    from_dev: String,
    /// web-2's, dated an hour ahead.
    late: String,
    /// When the genuine-looking ones are dated.
    at: jiff::Timestamp,
}

fn plant_hostile(f: &Fleet, good: &str) -> Planted {
    let staging = f.pin("staging");
    let (rogue, _) = ssh_key(&f.keys, "rogue");
    let now = jiff::Timestamp::now();
    let genuine = TargetReport {
        environment: "staging".parse().unwrap(),
        target: "web-1".parse().unwrap(),
        bundle: "web".parse().unwrap(),
        digest: good.parse().unwrap(),
        params_digest: staging.params_digest.clone(),
        tree_digest: baton_model::Digest::of(b"the rendered tree"),
        action: ReportAction::Applied,
        verification: Some(TestResult::Passed),
        checks: Vec::new(),
        running: good.parse().unwrap(),
        at: baton_target::record_time(now),
        written: now,
    };
    let store = f.w.dir().join("stores/staging");
    let web_2 = |r: TargetReport| TargetReport { target: "web-2".parse().unwrap(), ..r };
    let (key_1, key_2) = (&f.hosts[0].key, &f.hosts[1].key);
    let wrong_key = plant(&store, &genuine, &rogue);
    let other_params = TargetReport {
        params_digest: baton_model::Digest::of(b"log_level = \"debug\""),
        ..web_2(genuine.clone())
    };
    let other_params = plant(&store, &other_params, key_2);
    let from_dev = TargetReport { environment: "dev".parse().unwrap(), ..genuine.clone() };
    let from_dev = plant(&store, &from_dev, key_1);
    let late = TargetReport {
        at: genuine.at + jiff::SignedDuration::from_hours(1),
        written: genuine.written + jiff::SignedDuration::from_hours(1),
        ..web_2(genuine.clone())
    };
    let late = plant(&store, &late, key_2);
    Planted { wrong_key, other_params, from_dev, late, at: genuine.at }
}

#[test]
fn forged_misfiled_and_late_reports_are_refused_by_the_gate_and_found_by_the_audit() {
    let f = Fleet::with(false, "2s");
    let good = f.build("1.5.0", true);
    f.to_staging(&good);
    let Planted { wrong_key, other_params, from_dev, late, at: dated } = plant_hostile(&f, &good);

    let (code, text) = f.promote("prod", None).unwrap_err();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("0 of 2 verified; not verified: `web-1`, `web-2`"), "{text}");
    for why in [
        format!(
            "report {} (`staging/web-1`): it is not signed by a key listed for `web-1@staging.target`",
            short(&wrong_key)
        ),
        format!("`web-2`'s report {} is for params", short(&other_params)),
        format!(
            "report {} (`staging/web-1`): it is a report of `dev/web-1`, not of a target of `staging`",
            short(&from_dev)
        ),
        format!("`web-2`'s report {} is dated", short(&late)),
    ] {
        assert!(text.contains(&why), "the gate says why: {why}\n{text}");
    }

    // The audit finds, from the store alone, the reports that do not hold, and the targets that
    // stayed silent past `silent_after` (2s here).
    std::thread::sleep(Duration::from_secs(3));
    let (code, findings) = f.audit();
    assert_eq!(code, 4, "{findings:?}");
    let running: Vec<&String> =
        findings.iter().filter(|f| f.contains("\"error\" \"running\"")).collect();
    for why in [
        format!("report {} (`staging/web-1`): it is not signed", short(&wrong_key)),
        format!("report {} (`staging/web-1`): it is a report of `dev/web-1`", short(&from_dev)),
        format!("report {} (`web-2`): it is dated", short(&late)),
        "`web-1` of `staging` runs".to_owned(),
        "silent: no report".to_owned(),
    ] {
        assert!(running.iter().any(|f| f.contains(&why)), "the audit finds: {why}\n{running:#?}");
    }

    // The genuine reports let prod pass, carrying every report into prod's store.
    for i in 0..2 {
        assert_eq!(f.agent(i).0, 0);
    }
    f.promote("prod", None).unwrap();
    let (_, findings) = f.audit();
    let errors: Vec<&String> = findings.iter().filter(|f| f.starts_with("\"error\"")).collect();
    assert!(
        errors.iter().all(|f| f.contains("\"running\" \"staging\"") && f.contains("report ")),
        "only the planted reports: {errors:#?}"
    );
    // A pin that claims the planted reports is found, each for what it is.
    let mut pin = f.pin("prod");
    let at = |d: &str, when: jiff::Timestamp, target: &str| RecordedVerification {
        target: target.parse().unwrap(),
        report: d.parse().unwrap(),
        at: when,
    };
    pin.verifications = vec![
        at(&wrong_key, dated, "web-1"),
        at(&other_params, dated, "web-2"),
        at(&from_dev, dated, "web-1"),
        at(&late, dated + jiff::SignedDuration::from_hours(1), "web-2"),
    ];
    f.forge(&pin);
    let refused = f.w.baton(&["apply", "prod"]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(short(&wrong_key)), "{}", stderr(&refused));
    let (code, findings) = f.audit();
    assert_eq!(code, 4, "{findings:?}");
    let all = findings.join("\n");
    for why in [
        format!("report {}", short(&wrong_key)),
        "not signed by a key listed for `web-1@staging.target`".to_owned(),
        format!("report {}", short(&other_params)),
        "it is for params".to_owned(),
        format!("report {}", short(&from_dev)),
        "it is a report of `dev/web-1`".to_owned(),
        "after the promotion".to_owned(),
    ] {
        assert!(all.contains(&why), "the audit finds: {why}\n{all}");
    }
}

/// The 12 hex digits baton shows of a digest.
fn short(digest: &str) -> &str {
    &digest.trim_start_matches("sha256:")[..12]
}

/// Debian's docker-registry on a free loopback port with its access log on (one line per
/// request in `registry.log`), for counting what agents ask of it; stopped on drop.
struct LoggedRegistry {
    dir: tempfile::TempDir,
    host: String,
}

impl LoggedRegistry {
    fn start() -> LoggedRegistry {
        let dir = tempfile::tempdir().unwrap();
        let script = baton_tests::repo_root().join("scripts/registry.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .env("BATON_REGISTRY_ACCESS_LOG", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "registry.sh: {}", stderr(&output));
        LoggedRegistry { host: stdout(&output).trim().to_owned(), dir }
    }

    /// Requests it answered so far.
    fn requests(&self) -> usize {
        let log = fs_err::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("] \"") && l.contains(" /v2/")).count()
    }
}

impl Drop for LoggedRegistry {
    fn drop(&mut self) {
        let script = baton_tests::repo_root().join("scripts/registry.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(self.dir.path()).status();
    }
}

/// The agents' fleet: how many, and how long a pass waits.
const AGENTS: usize = 5;

/// One agent's health file, read while the agent runs (absent before its first pass).
fn health(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs_err::read_to_string(path).ok()?).ok()
}

/// Waits (bounded) until `done` holds for every health file.
fn wait_for(files: &[PathBuf], what: &str, done: impl Fn(&Value) -> bool) {
    for _ in 0..600 {
        if files.iter().all(|f| health(f).is_some_and(|h| done(&h))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let states: Vec<Option<Value>> = files.iter().map(|f| health(f)).collect();
    panic!("agents did not reach `{what}` in 120 s: {states:#?}");
}

/// The served fleet's pipeline: dev and prod in local layouts, staging in `registry` with the
/// targets `ids`, each with its key in `.baton/allowed_signers`; committed and pushed. Returns
/// the path of ci's key, which signs the promotions.
fn served_fleet(t: &crate::remote::Team, registry: &LoggedRegistry, ids: &[String]) -> String {
    let keys = t.w.dir().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    let (ci, ci_pub) = ssh_key(&keys, "ci");
    let mut signers = format!("ci {ci_pub}\n");
    for id in ids {
        let (_, public) = ssh_key(&keys, id);
        writeln!(signers, "{id}@staging.target {public}").unwrap();
    }
    let stores = t.w.dir().join("stores");
    let listed = ids.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
    let pipeline = format!(
        r#"
[[environment]]
name = "dev"
store = "oci:{stores}/dev"
target = {{ kind = "dir", path = "deploy/dev" }}

[[environment]]
name = "staging"
store = "{registry}/{path}"
targets = [{listed}]
target = {{ kind = "dir", path = "deploy/staging", verify = {{ name = "health page", command = ["test", "-s", "html/health.txt"] }} }}

[[environment]]
name = "prod"
store = "oci:{stores}/prod"
gates = {{ verified = "all" }}
"#,
        stores = stores.display(),
        registry = registry.host,
        path = baton_tests::unique_path("fleet"),
    );
    fs_err::write(t.w.state.join("baton.toml"), pipeline).unwrap();
    fs_err::create_dir_all(t.w.state.join(".baton")).unwrap();
    fs_err::write(t.w.state.join(".baton/allowed_signers"), signers).unwrap();
    t.w.commit("a fleet in staging");
    t.git(&t.w.state, &["push", "-q"]);
    ci.display().to_string()
}

/// One looping agent of staging per id, each in `hosts/ID` with its own cache, key and health
/// file, reading the state at the team's URL; the children and their health files.
fn spawn_agents(
    t: &crate::remote::Team,
    ids: &[String],
) -> (Vec<std::process::Child>, Vec<PathBuf>) {
    let (mut agents, mut files) = (Vec::new(), Vec::new());
    for id in ids {
        let dir = t.w.dir().join("hosts").join(id);
        fs_err::create_dir_all(&dir).unwrap();
        let file = dir.join("health.json");
        let child = t
            .baton(&dir)
            .args(["agent", "--env", "staging", "--interval", "1", "--state", &t.url])
            .arg("--health-file")
            .arg(&file)
            .env("BATON_TARGET_ID", id)
            .env("BATON_SIGN_KEY", t.w.dir().join("keys").join(id))
            .env("BATON_CACHE", dir.join("cache"))
            .env("BATON_APPLIED_DIR", dir.join("applied"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        agents.push(child);
        files.push(file);
    }
    (agents, files)
}

/// Staging's running state, from `baton status` in the team's state clone.
fn staging_running(t: &crate::remote::Team) -> Running {
    let status = t.run(&t.w.state, &["status", "--output", "json"]);
    let rows: Vec<StatusRow> = serde_json::from_slice(&status.stdout).unwrap();
    rows.into_iter().find_map(|r| r.running).expect("staging's running state")
}

/// Across at least three more passes of every agent: the registry's requests, the git
/// server's requests, and the passes made.
fn count_idle(
    server: &GitServer,
    registry: &LoggedRegistry,
    files: &[PathBuf],
) -> (usize, u64, u64) {
    let passes = |files: &[PathBuf]| -> Vec<u64> {
        files.iter().map(|f| health(f).and_then(|h| h["passes"].as_u64()).unwrap_or(0)).collect()
    };
    let git_requests =
        || fs_err::read_to_string(server.access_log()).unwrap_or_default().lines().count();
    let (registry_before, git_before, passes_before) =
        (registry.requests(), git_requests(), passes(files));
    for (file, before) in files.iter().zip(&passes_before) {
        wait_for(std::slice::from_ref(file), "three idle passes", |h| {
            h["passes"].as_u64() >= Some(before + 3)
        });
    }
    let (registry_after, git_after, passes_after) =
        (registry.requests(), git_requests(), passes(files));
    let idle_passes: u64 = passes_after.iter().zip(&passes_before).map(|(a, b)| a - b).sum();
    (registry_after - registry_before, (git_after - git_before) as u64, idle_passes)
}

/// Five agents, separate processes each with its own directory, id and key, loop against one
/// state repository served by nginx and git's http-backend over HTTPS and one registry: after
/// a promotion every one reports verified and prod's gate opens; idle passes make no registry
/// request and one git request each, counted in the servers' own logs; the next digest still
/// reaches every one.
#[test]
fn five_agents_converge_over_https_and_idle_passes_stay_cheap() {
    use crate::remote::{Team, Via};
    let t = Team::served(Via::Https);
    let server = t.server.as_ref().unwrap();
    let registry = LoggedRegistry::start();
    let ids: Vec<String> = (1..=AGENTS).map(|i| format!("web-{i}")).collect();
    let ci = served_fleet(&t, &registry, &ids);
    let from = t.w.build_store();
    let promote = |args: &[&str]| {
        let mut all = vec!["promote", "web", "--as", "ci", "--sign-key", &ci];
        all.extend(args);
        let output = t.run(&t.w.state, &all);
        assert!(output.status.success(), "promote {args:?}: {}", stderr(&output));
    };
    let healthy = |dir: &Path| fs_err::write(dir.join("html/health.txt"), "ok\n").unwrap();
    let good = t.w.build("1.5.0", healthy);
    promote(&["--to", "dev", "--digest", &good, "--from-store", &from]);
    promote(&["--to", "staging"]);

    let (agents, files) = spawn_agents(&t, &ids);
    let reported = |h: &Value| {
        let pass = &h["bundles"][0];
        h["ok"] == true && (pass["report"].is_string() || pass["action"] == "unchanged")
    };
    wait_for(&files, "reported verified", reported);
    let running = staging_running(&t);
    assert_eq!((running.converged, running.expected), (AGENTS, AGENTS), "{running:?}");

    let (registry_requests, git, idle_passes) = count_idle(server, &registry, &files);
    assert_eq!(registry_requests, 0, "an idle pass asks nothing of the registry");
    // A pass in flight at either count adds or drops its requests: one pass per agent of slack.
    let (per_pass, slack) = (IDLE_GIT_REQUESTS, AGENTS as u64 * IDLE_GIT_REQUESTS);
    assert!(
        git <= idle_passes * per_pass + slack && git + slack >= idle_passes * per_pass,
        "{git} git requests for {idle_passes} idle passes: {per_pass} expected per pass; the last:\n{}",
        fs_err::read_to_string(server.access_log())
            .unwrap()
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .join("\n")
    );

    promote(&["--to", "prod"]);
    // The cheap fetch still brings what changed: the next digest reaches every agent.
    let next = t.w.build("1.6.0", healthy);
    promote(&["--to", "dev", "--digest", &next, "--from-store", &from]);
    promote(&["--to", "staging"]);
    let converged = (0..600).any(|_| {
        let running = staging_running(&t);
        let done = running.digest.to_string() == next && running.converged == AGENTS;
        if !done {
            std::thread::sleep(Duration::from_millis(200));
        }
        done
    });
    assert!(converged, "every agent reported {next} verified");
    for agent in agents {
        let pid = rustix::process::Pid::from_raw(i32::try_from(agent.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let output = agent.wait_with_output().unwrap();
        assert!(output.status.success(), "an agent stops cleanly on SIGTERM: {}", stderr(&output));
    }
}

/// The git requests of one idle agent pass over HTTPS (nginx's access log lines).
const IDLE_GIT_REQUESTS: u64 = 1;
