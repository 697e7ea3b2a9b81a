//! `baton init`: a state repository with a commented pipeline, ready for the first promotion.

use std::path::Path;

use baton_state::{FileChange, StateRepo};
use serde::{Deserialize, Serialize};

use baton_model::layout::PIPELINE;

use crate::PromoteError;

const PIPELINE_TEMPLATE: &str = r#"#:schema ./.baton/baton.schema.json
# The pipeline: environments in chain order. A bundle enters the first one with
# `baton promote NAME --to dev --digest sha256:… --from-store STORE` and moves on with
# `baton promote NAME --to NEXT`, unchanged. JSON Schema: .baton/baton.schema.json (`baton
# schema baton.toml` prints the one of this baton), named on the first line for editors.
#
# store:  `oci:PATH` (an OCI image layout, relative to this repository) or a registry
#         `HOST[:PORT]/PATH`.
# target: what `baton apply` changes: { kind = "dir", path = "…" } or
#         { kind = "exec", command = ["…"], check = ["…"] }. Optional.
# gates:  upstream (default: the environment before), soak ("2h"), approvals (distinct
#         principals, never the promoter), windows ("Mon-Fri 09:00-16:00 Europe/Berlin"),
#         break_glass (allow `--break-glass "reason"`). Optional.

[[environment]]
name = "dev"
store = "oci:stores/dev"
target = { kind = "dir", path = "deploy/dev" }

[[environment]]
name = "staging"
store = "oci:stores/staging"
target = { kind = "dir", path = "deploy/staging" }

[[environment]]
name = "prod"
store = "oci:stores/prod"
target = { kind = "dir", path = "deploy/prod" }
gates = { soak = "1h", approvals = 2, break_glass = true }
"#;

const PARAMS_README: &str = "# Parameters

One file per environment and bundle: `params/<env>/<bundle>.toml`, checked against the
parameter schema the bundle carries before every promotion and apply. Secrets are never
values here, only references, and only for parameters the bundle declares `secret = true`:
`db_password = { from_env = \"PROD_DB_PASSWORD\" }`, or `{ from_file = \"db\" }`, a file in
the secrets directory (`secrets_dir` of the environment in baton.toml, or the applier's
`--secrets-dir`); nothing outside that directory is read.
";

const STATE_README: &str = "# State

Written only by baton: `state/<env>/<bundle>.toml` pins a digest in an environment, and
`approvals/<env>/<bundle>/<digest>/<principal>.toml` records an approval. Every change is a
commit with `Baton-*` trailers; `git log` tells the story. Do not edit these by hand: baton
refuses to build on a hand-edited pin.
";

const GITIGNORE: &str =
    "# Local OCI layout stores and dir targets: bytes, not state.\n/stores/\n/deploy/\n";

/// Where `init` puts the environments' stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitStores {
    /// OCI layouts inside the clone (`oci:stores/<env>`), for one machine.
    Local,
    /// Registry repositories `PREFIX/<env>`, shared by every machine.
    Prefix(String),
}

/// What `init` did.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Initialised {
    /// The repository's root.
    pub path: String,
    /// The commit that added the files.
    pub commit: String,
    /// The files written.
    pub files: Vec<String>,
}

/// Creates (or adopts) a git repository at `dir` and commits a commented `baton.toml` (whose
/// `#:schema` line names `.baton/baton.schema.json`, written beside it), `params/README.md`,
/// `state/README.md` and a `.gitignore` for local stores.
pub fn init(
    dir: &Path,
    as_: Option<&str>,
    stores: &InitStores,
    at: jiff::Timestamp,
) -> Result<Initialised, PromoteError> {
    let pipeline = pipeline_text(stores)?;
    fs_err::create_dir_all(dir)?;
    let repo = StateRepo::init(dir)?;
    let snapshot = repo.snapshot()?;
    if repo.read(&snapshot, PIPELINE)?.is_some() || repo.root().join(PIPELINE).exists() {
        return Err(PromoteError::AlreadyInitialised { path: repo.root().join(PIPELINE) });
    }
    let identity = match (as_, repo.configured_identity()) {
        (_, Some(identity)) => identity,
        (Some(principal), None) => {
            baton_state::Identity { name: principal.into(), email: principal.into() }
        }
        (None, None) => return Err(baton_view::ViewError::NoPrincipal.into()),
    };
    let (readme_params, readme_state) = (
        baton_model::StatePath::Readme(baton_model::Dir::Params).to_path(),
        baton_model::StatePath::Readme(baton_model::Dir::State).to_path(),
    );
    let schema = baton_model::schema::all()
        .into_iter()
        .find(|(name, _)| *name == "baton.schema.json")
        .map(|(_, text)| text)
        .expect("holds because baton.toml has a schema");
    let mut files = vec![
        (PIPELINE, pipeline.as_str()),
        (baton_model::layout::PIPELINE_SCHEMA, schema.as_str()),
        (readme_params.as_str(), PARAMS_README),
        (readme_state.as_str(), STATE_README),
    ];
    if repo.read(&snapshot, ".gitignore")?.is_none() && !repo.root().join(".gitignore").exists() {
        files.push((".gitignore", GITIGNORE));
    }
    let changes: Vec<FileChange> = files
        .iter()
        .map(|(path, text)| FileChange {
            path: (*path).into(),
            content: Some(text.as_bytes().to_vec()),
        })
        .collect();
    let commit = repo.commit(
        &snapshot,
        &changes,
        "baton init: pipeline, params and state\n",
        &identity,
        at.as_second(),
        None,
    )?;
    Ok(Initialised {
        path: repo.root().display().to_string(),
        commit: commit.to_string(),
        files: files.iter().map(|(p, _)| (*p).to_owned()).collect(),
    })
}

/// The pipeline with its stores: local layouts, or registry repositories under a prefix
/// (checked to be a registry reference, so that every machine can reach it).
fn pipeline_text(stores: &InitStores) -> Result<String, PromoteError> {
    match stores {
        InitStores::Local => Ok(PIPELINE_TEMPLATE.to_owned()),
        InitStores::Prefix(prefix) => {
            let prefix = prefix.trim_end_matches('/');
            let mut text = PIPELINE_TEMPLATE.to_owned();
            for env in ["dev", "staging", "prod"] {
                let store = format!("{prefix}/{env}");
                match store.parse::<baton_model::StoreLocation>() {
                    Ok(baton_model::StoreLocation::Registry { .. }) => {}
                    _ => return Err(PromoteError::StorePrefix { prefix: prefix.to_owned() }),
                }
                text = text.replace(
                    &format!("store = \"oci:stores/{env}\""),
                    &format!("store = \"{store}\""),
                );
            }
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_a_valid_pipeline() {
        for stores in [InitStores::Local, InitStores::Prefix("registry.example.com/team".into())] {
            let text = pipeline_text(&stores).unwrap();
            let pipeline = baton_model::Pipeline::from_toml(&text).unwrap();
            assert_eq!(pipeline.names(), "dev, staging, prod");
        }
        let shared =
            pipeline_text(&InitStores::Prefix("registry.example.com/team/".into())).unwrap();
        assert!(shared.contains("store = \"registry.example.com/team/prod\""), "{shared}");
        assert!(!shared.contains("store = \"oci:"), "{shared}");
        assert!(pipeline_text(&InitStores::Prefix("team".into())).is_err());
    }
}
