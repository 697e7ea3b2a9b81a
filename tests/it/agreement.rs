//! One judge: for a table of gate situations, the promoter's verdict at the moment of the
//! promotion and the auditor's verdict recomputed from history are the same, outcome for
//! outcome. Both run as libraries against a real git repository and a real layout store, with
//! the clock pinned: nothing here sleeps or reads the wall clock.

use std::path::{Path, PathBuf};

use baton_model::{Action, BundleName, Digest, EnvName, StateRecord, StoreLocation, Trailers};
use baton_promote::{ApproveRequest, PromoteRequest};
use baton_state::StateRepo;
use baton_view::{GateName, GateOutcome, GateStores, View, evaluate};
use jiff::Timestamp;

use baton_tests::{git, git_at, repo_root};

const PIPELINE: &str = r#"
[[environment]]
name = "staging"
store = "oci:stores/staging"

[[environment]]
name = "prod"
store = "oci:stores/prod"
gates = { soak = "2h", approvals = 2, windows = ["Mon-Fri 09:00-16:00 UTC"], break_glass = true }
"#;

/// 2026-11-24 is a Tuesday; `HH:MM:SS` that day.
fn at(hh_mm_ss: &str) -> Timestamp {
    format!("2026-11-24T{hh_mm_ss}Z").parse().unwrap()
}

/// A state repository whose staging pinned web at `staging_at`, with `approvals` of prod.
struct Repo {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    digest: Digest,
}

impl Repo {
    fn new(staging_at: &str, approvals: &[(&str, &str)]) -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        fs_err::create_dir_all(&state).unwrap();
        fs_err::write(state.join("baton.toml"), PIPELINE).unwrap();
        fs_err::write(state.join(".gitignore"), "stores/\n").unwrap();
        baton_tests::copy_tree(&repo_root().join("examples/state/params"), &state.join("params"));
        git(&state, &["init", "-q", "-b", "main"]);
        git(&state, &["add", "-A"]);
        // The pipeline is older than every instant of the table, as a real history would be.
        git_at(&state, &["commit", "-q", "-m", "pipeline"], "2026-11-23T00:00:00Z");
        let options = baton_tests::registry_options();
        let build_store = tmp.path().join("build");
        let none = |_| {};
        let progress: baton_store::Progress = std::sync::Arc::new(|_| {});
        let built = baton_build::build(
            &baton_build::BuildRequest {
                dir: repo_root().join("examples/web"),
                store: StoreLocation::Layout(build_store.clone()),
                allow_dirty: true,
                threads: 1,
                epoch: Some(1_700_000_000),
                registry: &options,
                sign_key: None,
            },
            &baton_build::BuildProgress { packing_total: &none, packed: &none, push: &progress },
        )
        .unwrap();
        let mut view = View::open(StateRepo::discover(&state).unwrap()).unwrap();
        baton_promote::promote(
            &mut view,
            &PromoteRequest {
                bundle: web(),
                to: "staging".into(),
                digest: Some(built.digest.clone()),
                from_store: Some(StoreLocation::Layout(build_store)),
                as_: Some("ci".into()),
                allow_superseded: false,
                break_glass: None,
                options: &options,
                progress: &progress,
                sign_key: None,
                at: at(staging_at),
            },
        )
        .unwrap();
        for (who, when) in approvals {
            // Each command reads the branch head anew, as a new process would.
            view.refresh().unwrap();
            baton_promote::approve(
                &mut view,
                &ApproveRequest {
                    bundle: web(),
                    env: "prod".into(),
                    digest: None,
                    as_: Some((*who).into()),
                    comment: None,
                    sign_key: None,
                    at: at(when),
                },
            )
            .unwrap();
        }
        Repo { _tmp: tmp, state, digest: built.digest }
    }

    /// The promoter's gates for `by` promoting to prod at `when`, at the branch head.
    fn promoter(&self, by: &str, when: Timestamp) -> Vec<GateOutcome> {
        let view = View::open(StateRepo::discover(&self.state).unwrap()).unwrap();
        let prod = view.environment("prod").unwrap();
        let by = by.parse().unwrap();
        let options = baton_tests::registry_options();
        let store = view.open_store(view.environment("staging").unwrap(), &options).unwrap();
        let stores = GateStores { source: &store, upstream: Some(&store), at: when };
        let evidence =
            view.gate_evidence(prod, (&web(), &self.digest), (&by, None), false, &stores).unwrap();
        evaluate(prod, &web(), &self.digest, &evidence, when)
    }

    /// Commits the prod pin as baton would have written it, by `by` at `when`, whatever the
    /// gates say, and returns the gates the auditor recomputes for it.
    fn auditor(&self, by: &str, when: Timestamp, action: Action) -> Vec<GateOutcome> {
        let prod: EnvName = "prod".parse().unwrap();
        let record = StateRecord {
            bundle: web(),
            environment: prod.clone(),
            digest: self.digest.clone(),
            version: "1.4.2".parse().unwrap(),
            params_digest: Digest::of(
                &fs_err::read(self.state.join("params/prod/web.toml")).unwrap(),
            ),
            action,
            from: Some("staging".parse().unwrap()),
            source_store: "oci:stores/staging".into(),
            by: by.parse().unwrap(),
            at: when,
            previous: None,
            reason: (action == Action::BreakGlass).then(|| "incident 42".into()),
            signatures: Vec::new(),
            attestation: None,
            verifications: Vec::new(),
            published: None,
        };
        let trailers = Trailers {
            action,
            bundle: web(),
            digest: self.digest.clone(),
            from: Some("staging".into()),
            to: prod,
            version: Some(record.version.clone()),
            by: record.by.clone(),
            params: Some(record.params_digest.clone()),
            previous: None,
            reason: record.reason.clone(),
        };
        let path = self.state.join("state/prod/web.toml");
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, record.to_toml()).unwrap();
        commit_at(&self.state, &trailers.message("promote web to prod"), when);
        // The forged commit is one baton would have written: nothing but the pin changed.
        let view = View::open(StateRepo::discover(&self.state).unwrap()).unwrap();
        let options = baton_tests::registry_options();
        let audit = baton_audit::Options { registry: &options, targets: None, at: when };
        let report = baton_audit::audit(&view, &baton_audit::Scope::default(), &audit).unwrap();
        let event = report.timeline.iter().find(|e| e.environment.as_str() == "prod").unwrap();
        event.gates.clone()
    }
}

fn web() -> BundleName {
    "web".parse().unwrap()
}

fn commit_at(dir: &Path, message: &str, when: Timestamp) {
    git(dir, &["add", "-A"]);
    let date = when.to_string();
    let output = std::process::Command::new("git")
        .args(["commit", "-q", "-m", message])
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// One situation: when staging pinned, who approved when, who promotes when; and which gates
/// must hold (the rest must not).
struct Situation {
    name: &'static str,
    staging_at: &'static str,
    approvals: &'static [(&'static str, &'static str)],
    by: &'static str,
    promote_at: &'static str,
    holding: &'static [GateName],
}

const ALL: &[GateName] =
    &[GateName::Upstream, GateName::Soak, GateName::Approvals, GateName::Window];
const TWO: &[(&str, &str)] = &[("alice", "08:10:00"), ("bob", "08:20:00")];

const SITUATIONS: &[Situation] = &[
    Situation {
        name: "everything holds",
        staging_at: "08:00:00",
        approvals: TWO,
        by: "ci",
        promote_at: "10:30:00",
        holding: ALL,
    },
    Situation {
        name: "soak one second short",
        staging_at: "08:00:00",
        approvals: TWO,
        by: "ci",
        promote_at: "09:59:59",
        holding: &[GateName::Upstream, GateName::Approvals, GateName::Window],
    },
    Situation {
        name: "soak exactly reached",
        staging_at: "08:00:00",
        approvals: TWO,
        by: "ci",
        promote_at: "10:00:00",
        holding: ALL,
    },
    Situation {
        name: "the promoter's own approval does not count",
        staging_at: "08:00:00",
        approvals: &[("alice", "08:10:00"), ("ci", "08:20:00")],
        by: "ci",
        promote_at: "10:30:00",
        holding: &[GateName::Upstream, GateName::Soak, GateName::Window],
    },
    Situation {
        name: "one approval is not two",
        staging_at: "08:00:00",
        approvals: &[("alice", "08:10:00")],
        by: "ci",
        promote_at: "10:30:00",
        holding: &[GateName::Upstream, GateName::Soak, GateName::Window],
    },
    Situation {
        name: "the window's end is outside it",
        staging_at: "08:00:00",
        approvals: TWO,
        by: "ci",
        promote_at: "16:00:00",
        holding: &[GateName::Upstream, GateName::Soak, GateName::Approvals],
    },
    Situation {
        name: "the window's last minute is inside it",
        staging_at: "08:00:00",
        approvals: TWO,
        by: "ci",
        promote_at: "15:59:59",
        holding: ALL,
    },
    Situation {
        name: "before the window opens",
        staging_at: "06:00:00",
        approvals: TWO,
        by: "ci",
        promote_at: "08:59:59",
        holding: &[GateName::Upstream, GateName::Soak, GateName::Approvals],
    },
];

#[test]
fn the_promoter_and_the_auditor_judge_every_situation_alike() {
    for situation in SITUATIONS {
        let repo = Repo::new(situation.staging_at, situation.approvals);
        let when = at(situation.promote_at);
        let promoter = repo.promoter(situation.by, when);
        let holding: Vec<GateName> = promoter.iter().filter(|g| g.held).map(|g| g.gate).collect();
        assert_eq!(holding, situation.holding, "{}: {promoter:#?}", situation.name);
        let auditor = repo.auditor(situation.by, when, Action::Promote);
        assert_eq!(promoter, auditor, "{}: the auditor disagrees", situation.name);
    }
}

#[test]
fn break_glass_skips_the_gates_for_both() {
    let repo = Repo::new("08:00:00", &[]);
    let when = at("03:00:00");
    // The promoter evaluates nothing for break-glass; the auditor recomputes nothing for it
    // (it reports the break-glass as a notice instead).
    assert!(repo.auditor("ci", when, Action::BreakGlass).is_empty());
    let held = repo.promoter("ci", when).iter().filter(|g| g.held).count();
    assert!(held < ALL.len(), "at 03:00 the gates would not hold");
}
