//! The CI examples run: their build and promote steps, read out of the YAML by a real parser
//! (`PyYAML`) as GitHub Actions, GitLab CI and Jenkins X (Tekton) would take them, run by bash
//! against a fresh clone of a state repository on a git remote, with baton from this build. They
//! build once, promote the digest through dev and staging, push the signed pin commits, and at
//! prod's gates exit 3 and post the gates that wait, with what would open each. What they cannot
//! run here (installing baton from git, logging in to a registry, cloning) is left out by name.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use baton_tests::{World, baton_bin, copy_tree, git, python, repo_root, ssh_key, stderr, stdout};

/// `steps.py KIND FILE VALUES`: the steps of the pipeline FILE that run a script, as
/// `[{job, name, env, script}]`, with GitHub's `${{ … }}` expressions replaced by VALUES (a JSON
/// object; an expression it lacks is an error) and GitLab's `extends` merged.
const STEPS: &str = r#"
import json, re, sys, yaml
kind, path, values = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open(path) as f:
    doc = yaml.safe_load(f)

def expand(text):
    def one(match):
        key = match.group(1).strip()
        if key not in values:
            sys.exit(f"{path}: no value for the expression {key}")
        return values[key]
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))

def expanded(env):
    return {k: expand(v) for k, v in (env or {}).items()}

steps = []
if kind == "github":
    for job_name, job in doc["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                env = {**expanded(doc.get("env")), **expanded(job.get("env")), **expanded(step.get("env"))}
                steps.append({"job": job_name, "name": expand(step.get("name", "")), "env": env,
                              "script": expand(step["run"])})
elif kind == "gitlab":
    def job(name):
        this = dict(doc[name])
        if "extends" in this:
            base = job(this["extends"])
            this = {**base, **this, "variables": {**base.get("variables", {}), **this.get("variables", {})}}
        return this
    for name in doc:
        if name.startswith(".") or not isinstance(doc[name], dict) or "script" not in job(name):
            continue
        this = job(name)
        env = {**doc.get("variables", {}), **this.get("variables", {})}
        steps.append({"job": name, "name": name, "env": {k: str(v) for k, v in env.items()},
                      "script": "\n".join(this["script"])})
elif kind == "tekton":
    for task in doc["spec"]["pipelineSpec"]["tasks"]:
        spec = task["taskSpec"]
        template = spec.get("stepTemplate", {})
        for step in spec["steps"]:
            if "script" in step:
                env = {e["name"]: e["value"] for e in template.get("env", []) + step.get("env", [])}
                steps.append({"job": task["name"], "name": step["name"], "env": env,
                              "script": step["script"]})
print(json.dumps(steps))
"#;

#[derive(serde::Deserialize, Debug)]
struct Step {
    job: String,
    name: String,
    env: BTreeMap<String, String>,
    script: String,
}

/// The steps of `file` read as `kind`, with `values` for its expressions.
fn steps(dir: &Path, kind: &str, file: &str, values: &[(&str, &str)]) -> Vec<Step> {
    let script = dir.join("steps.py");
    fs_err::write(&script, STEPS).unwrap();
    let values: BTreeMap<&str, &str> = values.iter().copied().collect();
    let output = Command::new(python())
        .arg(&script)
        .args([kind, repo_root().join(file).to_str().unwrap()])
        .arg(serde_json::to_string(&values).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "steps.py {file}: {}{}", stdout(&output), stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// How a CI system runs a step's script.
#[derive(Clone, Copy)]
enum Shell {
    /// GitHub Actions' `bash`: `bash --noprofile --norc -eo pipefail FILE`.
    GitHub,
    /// GitLab's runner: the script's lines in one bash with `set -eo pipefail`.
    GitLab,
    /// Tekton: the script is a file run as it is (its `#!` line says by what).
    Tekton,
}

/// A state repository on a git remote, with examples/web's descriptor in it, and the CI's clone.
struct Checkout {
    world: World,
    remote: PathBuf,
    clone: PathBuf,
    /// The environment every step gets (a HOME of its own, baton on PATH, the build store).
    env: Vec<(String, String)>,
}

impl Checkout {
    /// `detached`: the clone is of the commit, not the branch (GitLab, Tekton's git-clone).
    fn new(detached: bool) -> Checkout {
        let world = World::new();
        copy_tree(&repo_root().join("examples/web"), &world.state.join("examples/web"));
        git(&world.state, &["add", "-A"]);
        git(&world.state, &["commit", "-q", "-m", "the web bundle's descriptor"]);
        let remote = world.dir().join("origin.git");
        git(world.dir(), &["clone", "-q", "--bare", "state", "origin.git"]);
        let clone = world.dir().join("checkout");
        git(world.dir(), &["clone", "-q", "origin.git", "checkout"]);
        if detached {
            git(&clone, &["checkout", "-q", "--detach"]);
        }
        let home = world.dir().join("ci-home");
        fs_err::create_dir_all(&home).unwrap();
        let bin = baton_bin().parent().unwrap().display().to_string();
        let env = vec![
            ("PATH".into(), format!("{bin}:/usr/local/bin:/usr/bin:/bin")),
            ("HOME".into(), home.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("DOCKER_CONFIG".into(), home.join(".docker").display().to_string()),
            ("BATON_STORE".into(), format!("oci:{}", world.dir().join("ci-build").display())),
        ];
        Checkout { world, remote, clone, env }
    }

    /// Runs `step` in the clone as `shell` runs it, with the step's env, then the checkout's,
    /// then `extra`.
    fn run(&self, step: &Step, shell: Shell, extra: &[(&str, &str)]) -> Output {
        let file = self.world.dir().join(format!("step-{}.sh", step.name.replace(' ', "-")));
        let mut command = match shell {
            Shell::GitHub => {
                fs_err::write(&file, &step.script).unwrap();
                let mut c = Command::new("bash");
                c.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(&file);
                c
            }
            Shell::GitLab => {
                let mut c = Command::new("bash");
                c.arg("-c").arg(format!("set -eo pipefail\n{}", step.script));
                c
            }
            Shell::Tekton => {
                use std::os::unix::fs::PermissionsExt;
                fs_err::write(&file, &step.script).unwrap();
                fs_err::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
                Command::new(&file)
            }
        };
        command.current_dir(&self.clone).env_clear();
        command.envs(&step.env).envs(self.env.iter().map(|(k, v)| (k, v)));
        command.envs(extra.iter().copied());
        command.output().unwrap()
    }

    /// The file at `path` on the remote's main, if it is there.
    fn on_remote(&self, path: &str) -> Option<String> {
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(&self.remote)
            .args(["show", &format!("main:{path}")])
            .output()
            .unwrap();
        output.status.success().then(|| stdout(&output))
    }

    /// The remote's main pins `digest` in dev and staging, and nothing in prod.
    fn pins_pushed(&self, digest: &str) {
        for env in ["dev", "staging"] {
            let pin = self.on_remote(&format!("state/{env}/web.toml")).unwrap_or_default();
            assert!(pin.contains(digest), "{env}'s pin on the remote: {pin}");
        }
        assert_eq!(self.on_remote("state/prod/web.toml"), None, "prod waits on its gates");
    }
}

fn digest_of(build_json: &Path) -> String {
    let text = fs_err::read_to_string(build_json).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    document["digest"].as_str().unwrap().to_owned()
}

#[test]
fn the_github_actions_workflow_builds_promotes_and_posts_the_gates_that_wait() {
    let ci = Checkout::new(false);
    let (key, _) = ssh_key(ci.world.dir(), "promoter");
    let key = fs_err::read_to_string(key).unwrap();
    let temp = ci.world.dir().join("runner-temp");
    fs_err::create_dir_all(&temp).unwrap();
    let output_file = ci.world.dir().join("github-output");
    let summary = ci.world.dir().join("github-step-summary");
    let common = [
        ("secrets.PROMOTER_SSH_KEY", key.as_str()),
        ("secrets.REGISTRY_PASSWORD", "unused"),
        ("vars.REGISTRY_USER", "unused"),
        ("github.repository_owner", "shop"),
        ("github.ref", "refs/heads/main"),
        ("runner.temp", temp.to_str().unwrap()),
        ("steps.build.outputs.digest", "unused"),
    ];
    let files = [
        ("GITHUB_OUTPUT", output_file.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let skipped = ["Install baton", "Log in to the registry"];
    let build = steps(
        ci.world.dir(),
        "github",
        "examples/ci/github-actions.yml",
        &[&common[..], &[("matrix.environment", "dev"), ("needs.build.outputs.digest", "unused")]]
            .concat(),
    );
    let build = build.iter().find(|s| s.job == "build" && !skipped.contains(&s.name.as_str()));
    let ran = ci.run(build.expect("a build step"), Shell::GitHub, &files);
    assert!(ran.status.success(), "{}{}", stdout(&ran), stderr(&ran));
    let outputs = fs_err::read_to_string(&output_file).unwrap();
    let digest = outputs.trim().strip_prefix("digest=").expect("digest=… in GITHUB_OUTPUT");
    assert_eq!(digest, digest_of(&ci.clone.join("build.json")));

    // The matrix, in order, as `max-parallel: 1` runs it.
    for (env, code) in [("dev", 0), ("staging", 0), ("prod", 3)] {
        let values =
            [&common[..], &[("matrix.environment", env), ("needs.build.outputs.digest", digest)]]
                .concat();
        let all = steps(ci.world.dir(), "github", "examples/ci/github-actions.yml", &values);
        let promote = all
            .iter()
            .find(|s| s.job == "promote" && !skipped.contains(&s.name.as_str()))
            .expect("a promote step");
        assert_eq!(promote.name, format!("Promote to {env}"));
        let ran = ci.run(promote, Shell::GitHub, &files);
        assert_eq!(ran.status.code(), Some(code), "{env}: {}{}", stdout(&ran), stderr(&ran));
    }
    let posted = fs_err::read_to_string(&summary).unwrap();
    assert!(posted.contains("pinned in dev") && posted.contains("pinned in staging"), "{posted}");
    assert!(posted.contains("### web to prod waits on its gates"), "{posted}");
    assert!(posted.contains("- **approvals**: "), "the waiting gate and what opens it: {posted}");
    ci.pins_pushed(digest);
    // BATON_SIGN_KEY signed them.
    let head = Command::new("git")
        .arg("--git-dir")
        .arg(&ci.remote)
        .args(["cat-file", "commit", "main"])
        .output()
        .unwrap();
    assert!(stdout(&head).contains("gpgsig -----BEGIN SSH SIGNATURE-----"), "{}", stdout(&head));
}

#[test]
fn the_gitlab_pipeline_builds_promotes_and_prints_the_gates_that_wait() {
    let ci = Checkout::new(true);
    // The project's URL, as the job sets it, is this remote.
    let url = "https://gitlab.example.com/shop/state.git";
    let rewrite = format!("url.{}.insteadOf", ci.remote.display());
    git(&ci.clone, &["config", &rewrite, url]);
    let all = steps(ci.world.dir(), "gitlab", "examples/ci/gitlab-ci.yml", &[]);
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["build", "promote-dev", "promote-staging", "promote-prod"]);
    let gitlab = [
        ("CI_SERVER_HOST", "gitlab.example.com"),
        ("CI_PROJECT_PATH", "shop/state"),
        ("CI_COMMIT_BRANCH", "main"),
        ("BATON_GIT_TOKEN", "glpat-never-used-here"),
    ];
    let built = ci.run(&all[0], Shell::GitLab, &gitlab);
    assert!(built.status.success(), "{}{}", stdout(&built), stderr(&built));
    // The dotenv report GitLab hands to the jobs that need the build.
    let dotenv = fs_err::read_to_string(ci.clone.join("build.env")).unwrap();
    let digest = dotenv.trim().strip_prefix("DIGEST=").expect("DIGEST=… in build.env").to_owned();
    assert_eq!(digest, digest_of(&ci.clone.join("build.json")));
    let mut said = String::new();
    for (step, code) in all[1..].iter().zip([0, 0, 3]) {
        let ran =
            ci.run(step, Shell::GitLab, &[&gitlab[..], &[("DIGEST", digest.as_str())]].concat());
        assert_eq!(
            ran.status.code(),
            Some(code),
            "{}: {}{}",
            step.name,
            stdout(&ran),
            stderr(&ran)
        );
        said.push_str(&stdout(&ran));
        assert!(ci.clone.join("promote.json").exists(), "the artifact promote.json");
    }
    assert!(said.contains("pinned in dev") && said.contains("pinned in staging"), "{said}");
    assert!(said.contains("web to prod waits on its gates:\n  - approvals: "), "{said}");
    assert!(!said.contains("glpat-never-used-here"));
    ci.pins_pushed(&digest);
    let config = fs_err::read_to_string(ci.clone.join(".git/config")).unwrap();
    assert!(!config.contains("glpat"), "the token is in no file: {config}");
}

#[test]
fn the_jenkins_x_release_pipeline_builds_promotes_and_logs_the_gates_that_wait() {
    let triggers = fs_err::read_to_string(repo_root().join("examples/ci/jenkins-x/triggers.yaml"));
    let triggers = triggers.unwrap();
    assert!(triggers.contains("kind: TriggerConfig") && triggers.contains("source: release.yaml"));
    let ci = Checkout::new(true);
    let all = steps(ci.world.dir(), "tekton", "examples/ci/jenkins-x/release.yaml", &[]);
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["install-baton", "build", "promote"]);
    let lighthouse = [("PULL_BASE_REF", "main"), ("REPO_OWNER", "shop"), ("REPO_NAME", "state")];
    let built = ci.run(&all[1], Shell::Tekton, &lighthouse);
    assert!(built.status.success(), "{}{}", stdout(&built), stderr(&built));
    let digest = digest_of(&ci.clone.join("build.json"));
    let promoted = ci.run(&all[2], Shell::Tekton, &lighthouse);
    let said = stdout(&promoted);
    assert_eq!(promoted.status.code(), Some(3), "{said}{}", stderr(&promoted));
    assert!(said.contains("pinned in dev") && said.contains("pinned in staging"), "{said}");
    assert!(said.contains("web to prod waits on its gates:\n  - approvals: "), "{said}");
    ci.pins_pushed(&digest);
}
