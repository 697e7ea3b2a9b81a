//! The layout of a state repository, in one place: every path baton reads or writes there is
//! made by [`StatePath::to_path`] and recognised by [`StatePath::parse`], and the two round-trip.
//!
//! ```text
//! baton.toml                                             StatePath::Pipeline
//! .baton/allowed_signers                                 StatePath::AllowedSigners
//! .baton/trusted_keys.toml                               StatePath::TrustedKeys
//! params/<env>/<bundle>.toml                             StatePath::Params { env, bundle }
//! state/<env>/<bundle>.toml                              StatePath::Pin { env, bundle }
//! approvals/<env>/<bundle>/<hex>/<principal>.toml        StatePath::Approval { .. }
//! params/README.md, state/README.md, approvals/README.md StatePath::Readme(dir)
//! ```

use std::fmt;

use crate::{BundleName, Digest, EnvName, Principal};

/// `baton.toml`, the pipeline.
pub const PIPELINE: &str = "baton.toml";

/// `baton.toml`'s JSON Schema as `baton init` wrote it, which the pipeline's `#:schema` line
/// names for editors (Taplo, Even Better TOML). Nothing of baton reads it.
pub const PIPELINE_SCHEMA: &str = ".baton/baton.schema.json";

/// `.baton/allowed_signers`: when present, every baton commit must be signed by a key it lists.
pub const ALLOWED_SIGNERS: &str = ".baton/allowed_signers";

/// `.baton/trusted_keys.toml`: the keys whose bundle signatures `signed_by` gates accept.
pub const TRUSTED_KEYS: &str = ".baton/trusted_keys.toml";

/// A file of the state repository that baton knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatePath {
    /// `baton.toml`: the pipeline.
    Pipeline,
    /// `.baton/allowed_signers`: who may sign baton's commits.
    AllowedSigners,
    /// `.baton/trusted_keys.toml`: whose bundle signatures count.
    TrustedKeys,
    /// `params/<env>/<bundle>.toml`: the parameters of a bundle in an environment.
    Params {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
    },
    /// `state/<env>/<bundle>.toml`: the pin, written only by baton.
    Pin {
        /// The environment.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
    },
    /// `approvals/<env>/<bundle>/<hex>/<principal>.toml`: one approval, written only by baton.
    Approval {
        /// The environment the digest may be promoted to.
        env: EnvName,
        /// The bundle.
        bundle: BundleName,
        /// The approved digest.
        digest: Digest,
        /// Who approved.
        principal: Principal,
    },
    /// `<dir>/README.md`, written by `baton init`: documentation, not state.
    Readme(Dir),
}

/// The top-level directories of a state repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// `params/`, written by people.
    Params,
    /// `state/`, written only by baton.
    State,
    /// `approvals/`, written only by baton.
    Approvals,
}

impl Dir {
    /// The directory's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Params => "params",
            Dir::State => "state",
            Dir::Approvals => "approvals",
        }
    }

    /// The directories only baton writes.
    pub const BATON_WRITES: [Dir; 2] = [Dir::State, Dir::Approvals];
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StatePath {
    /// The path inside the repository, `/`-separated.
    pub fn to_path(&self) -> String {
        match self {
            StatePath::Pipeline => PIPELINE.to_owned(),
            StatePath::AllowedSigners => ALLOWED_SIGNERS.to_owned(),
            StatePath::TrustedKeys => TRUSTED_KEYS.to_owned(),
            StatePath::Params { env, bundle } => format!("params/{env}/{bundle}.toml"),
            StatePath::Pin { env, bundle } => format!("{}/{bundle}.toml", pins_dir(env)),
            StatePath::Approval { env, bundle, digest, principal } => {
                format!("{}/{principal}.toml", approvals_dir(env, bundle, digest))
            }
            StatePath::Readme(dir) => format!("{dir}/README.md"),
        }
    }

    /// Recognises a path baton knows; `None` for any other (a file that has no place there).
    pub fn parse(path: &str) -> Option<StatePath> {
        let parts: Vec<&str> = path.split('/').collect();
        let toml = |file: &str| file.strip_suffix(".toml").map(str::to_owned);
        Some(match parts.as_slice() {
            ["baton.toml"] => StatePath::Pipeline,
            [".baton", "allowed_signers"] => StatePath::AllowedSigners,
            [".baton", "trusted_keys.toml"] => StatePath::TrustedKeys,
            ["params", "README.md"] => StatePath::Readme(Dir::Params),
            ["state", "README.md"] => StatePath::Readme(Dir::State),
            ["approvals", "README.md"] => StatePath::Readme(Dir::Approvals),
            ["params", env, file] => {
                StatePath::Params { env: env.parse().ok()?, bundle: toml(file)?.parse().ok()? }
            }
            ["state", env, file] => {
                StatePath::Pin { env: env.parse().ok()?, bundle: toml(file)?.parse().ok()? }
            }
            ["approvals", env, bundle, hex, file] => StatePath::Approval {
                env: env.parse().ok()?,
                bundle: bundle.parse().ok()?,
                digest: Digest::from_hex(hex).ok()?,
                principal: toml(file)?.parse().ok()?,
            },
            _ => return None,
        })
    }

    /// The environment and bundle a pin, params file or approval belongs to.
    pub fn env_and_bundle(&self) -> Option<(&EnvName, &BundleName)> {
        match self {
            StatePath::Params { env, bundle }
            | StatePath::Pin { env, bundle }
            | StatePath::Approval { env, bundle, .. } => Some((env, bundle)),
            _ => None,
        }
    }
}

impl fmt::Display for StatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_path())
    }
}

/// `state/<env>`: the pins of one environment.
pub fn pins_dir(env: &EnvName) -> String {
    format!("state/{env}")
}

/// `approvals/<env>/<bundle>`: the approvals of every digest of a bundle for an environment.
pub fn bundle_approvals_dir(env: &EnvName, bundle: &BundleName) -> String {
    format!("approvals/{env}/{bundle}")
}

/// `approvals/<env>/<bundle>/<hex>`: the approvals of one digest.
pub fn approvals_dir(env: &EnvName, bundle: &BundleName, digest: &Digest) -> String {
    format!("{}/{}", bundle_approvals_dir(env, bundle), digest.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_round_trips() {
        let env: EnvName = "prod".parse().unwrap();
        let bundle: BundleName = "web".parse().unwrap();
        let digest = Digest::of(b"x");
        let paths = [
            StatePath::Pipeline,
            StatePath::AllowedSigners,
            StatePath::TrustedKeys,
            StatePath::Params { env: env.clone(), bundle: bundle.clone() },
            StatePath::Pin { env: env.clone(), bundle: bundle.clone() },
            StatePath::Approval {
                env: env.clone(),
                bundle: bundle.clone(),
                digest: digest.clone(),
                principal: "alice@example.com".parse().unwrap(),
            },
            StatePath::Readme(Dir::Params),
            StatePath::Readme(Dir::State),
            StatePath::Readme(Dir::Approvals),
        ];
        for path in paths {
            assert_eq!(StatePath::parse(&path.to_path()), Some(path.clone()), "{path}");
        }
        assert_eq!(
            StatePath::Pin { env: env.clone(), bundle: bundle.clone() }.to_path(),
            "state/prod/web.toml"
        );
        assert_eq!(
            approvals_dir(&env, &bundle, &digest),
            format!("approvals/prod/web/{}", digest.hex())
        );
    }

    #[test]
    fn paths_without_a_place_are_not_recognised() {
        for path in [
            "state/prod/web.json",
            "state/prod/nested/web.toml",
            "state/web.toml",
            "approvals/prod/web/not-hex/alice.toml",
            "approvals/prod/web/alice.toml",
            "state/Prod Env/web.toml",
            "notes.md",
        ] {
            assert_eq!(StatePath::parse(path), None, "{path}");
        }
    }
}
