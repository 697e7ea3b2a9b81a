//! The build's SLSA Provenance v1, an in-toto Statement in a DSSE envelope attached to the bundle
//! as an OCI referrer: where the bytes came from (repository, commit, tree, clean) lives here,
//! beside the bundle, never in it. Signed with the build key when one is given.

use baton_model::{BundleName, Digest, Source, oci};
use baton_sign::SigningKey;
use baton_store::{Store, StoreError, evidence};
use serde_json::json;

/// SLSA Provenance v1.
pub const PROVENANCE_PREDICATE: &str = "https://slsa.dev/provenance/v1";
/// The build type baton's provenance describes.
const BUILD_TYPE: &str = "https://baton.dev/bundle-build/v1";
/// The builder id.
const BUILDER_ID: &str = "https://baton.dev/builder/v1";

/// What the provenance says of one build.
pub(crate) struct BuildFacts<'a> {
    pub(crate) name: &'a BundleName,
    pub(crate) version: &'a str,
    pub(crate) digest: &'a Digest,
    pub(crate) source: Option<&'a Source>,
    pub(crate) started: jiff::Timestamp,
}

/// The in-toto Statement of the build's provenance.
pub(crate) fn statement(facts: &BuildFacts<'_>) -> serde_json::Value {
    let dependencies: Vec<serde_json::Value> = facts
        .source
        .iter()
        .map(|source| {
            let uri = source
                .repository
                .as_deref()
                .map_or_else(|| format!("git+file:{}", source.path), |repo| format!("git+{repo}"));
            json!({
                "uri": uri,
                "name": source.path,
                "digest": { "gitCommit": source.commit, "gitTree": source.tree },
                "annotations": { "clean": source.clean },
            })
        })
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": facts.name.to_string(), "digest": { "sha256": facts.digest.hex() } }],
        "predicateType": PROVENANCE_PREDICATE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "name": facts.name.to_string(),
                    "version": facts.version,
                    "path": facts.source.map(|s| s.path.clone()),
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": { "id": BUILDER_ID, "version": { "baton": env!("CARGO_PKG_VERSION") } },
                "metadata": {
                    "startedOn": facts.started.to_string(),
                    "finishedOn": jiff::Timestamp::now().to_string(),
                },
            },
        },
    })
}

/// Attaches the provenance of `facts` to the bundle in `store`, signed by `key` when given.
pub(crate) fn attach(
    store: &Store,
    facts: &BuildFacts<'_>,
    key: Option<&SigningKey>,
) -> Result<oci::Descriptor, StoreError> {
    let subject = baton_store::referrers::subject_of(store, facts.name, facts.digest)?;
    evidence::attach_attestation(
        store,
        facts.name,
        &subject,
        &statement(facts),
        (PROVENANCE_PREDICATE, facts.started),
        &[],
        key,
    )
}
