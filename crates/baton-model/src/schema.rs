//! JSON Schemas of baton's file formats, generated from the Rust types. The committed copies in
//! `schemas/` are checked against these by a test, so they cannot drift.

use crate::{
    ApprovalRecord, BundleConfig, BundleFile, ParamValues, PipelineFile, StateRecord,
    TrustedKeysFile,
};

/// Every schema: the file name under `schemas/` and its pretty JSON text.
pub fn all() -> Vec<(&'static str, String)> {
    let render = |schema: schemars::Schema| {
        let mut text =
            serde_json::to_string_pretty(&schema).expect("holds because a schema is JSON");
        text.push('\n');
        text
    };
    vec![
        ("bundle.schema.json", render(schemars::schema_for!(BundleFile))),
        ("bundle-config.schema.json", render(schemars::schema_for!(BundleConfig))),
        ("baton.schema.json", render(schemars::schema_for!(PipelineFile))),
        ("params.schema.json", render(schemars::schema_for!(ParamValues))),
        ("state.schema.json", render(schemars::schema_for!(StateRecord))),
        ("approval.schema.json", render(schemars::schema_for!(ApprovalRecord))),
        ("trusted-keys.schema.json", render(schemars::schema_for!(TrustedKeysFile))),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Fails when a committed schema differs from the types; `BATON_UPDATE_SCHEMAS=1` rewrites them.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn committed_schemas_match_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let update = std::env::var_os("BATON_UPDATE_SCHEMAS").is_some();
        for (name, text) in super::all() {
            let path = dir.join(name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "schemas/{name} is out of date: run `BATON_UPDATE_SCHEMAS=1 cargo test -p baton-model schema` and commit it"
            );
        }
    }
}
