//! `baton schema`: the JSON Schemas of every file baton reads and every document it prints,
//! embedded at build from `schemas/` (which tests keep equal to the types).

use anyhow::Result;

use crate::{ExitStatus, printer::Printer};

/// Each schema: its name (`output/NAME` for what a command prints with `--output json`) and text.
const SCHEMAS: &[(&str, &str)] = &[
    ("approval", include_str!("../../../schemas/approval.schema.json")),
    ("audit-report", include_str!("../../../schemas/audit-report.schema.json")),
    ("baton", include_str!("../../../schemas/baton.schema.json")),
    ("bundle-config", include_str!("../../../schemas/bundle-config.schema.json")),
    ("bundle", include_str!("../../../schemas/bundle.schema.json")),
    ("params", include_str!("../../../schemas/params.schema.json")),
    ("state", include_str!("../../../schemas/state.schema.json")),
    ("trusted-keys", include_str!("../../../schemas/trusted-keys.schema.json")),
    ("output/agent-health", include_str!("../../../schemas/output/agent-health.schema.json")),
    ("output/agent", include_str!("../../../schemas/output/agent.schema.json")),
    ("output/apply", include_str!("../../../schemas/output/apply.schema.json")),
    ("output/approve", include_str!("../../../schemas/output/approve.schema.json")),
    ("output/bundle-build", include_str!("../../../schemas/output/bundle-build.schema.json")),
    ("output/bundle-copy", include_str!("../../../schemas/output/bundle-copy.schema.json")),
    ("output/bundle-export", include_str!("../../../schemas/output/bundle-export.schema.json")),
    ("output/bundle-inspect", include_str!("../../../schemas/output/bundle-inspect.schema.json")),
    ("output/bundle-list", include_str!("../../../schemas/output/bundle-list.schema.json")),
    ("output/bundle-unpack", include_str!("../../../schemas/output/bundle-unpack.schema.json")),
    ("output/bundle-verify", include_str!("../../../schemas/output/bundle-verify.schema.json")),
    ("output/diff", include_str!("../../../schemas/output/diff.schema.json")),
    ("output/drift", include_str!("../../../schemas/output/drift.schema.json")),
    ("output/error", include_str!("../../../schemas/output/error.schema.json")),
    ("output/evidence", include_str!("../../../schemas/output/evidence.schema.json")),
    ("output/history", include_str!("../../../schemas/output/history.schema.json")),
    ("output/init", include_str!("../../../schemas/output/init.schema.json")),
    ("output/plan", include_str!("../../../schemas/output/plan.schema.json")),
    ("output/promote", include_str!("../../../schemas/output/promote.schema.json")),
    ("output/publish", include_str!("../../../schemas/output/publish.schema.json")),
    ("output/render", include_str!("../../../schemas/output/render.schema.json")),
    ("output/schema", include_str!("../../../schemas/output/schema.schema.json")),
    ("output/sign", include_str!("../../../schemas/output/sign.schema.json")),
    ("output/status", include_str!("../../../schemas/output/status.schema.json")),
];

/// Prints the schema `name` (`baton.toml` and `bundle.toml` name theirs too; an output's name
/// may leave out `output/`), or with none, every name.
pub(crate) fn run(name: Option<&str>, printer: &Printer) -> Result<ExitStatus> {
    let Some(name) = name else {
        let names: Vec<&str> = SCHEMAS.iter().map(|(name, _)| *name).collect();
        if printer.is_json() {
            printer.json(&names)?;
        } else {
            for name in names {
                printer.line(name)?;
            }
        }
        return Ok(ExitStatus::Success);
    };
    let wanted = name.strip_suffix(".toml").unwrap_or(name);
    let wanted = wanted.strip_suffix(".schema.json").unwrap_or(wanted);
    let found = SCHEMAS
        .iter()
        .find(|(n, _)| *n == wanted)
        .or_else(|| SCHEMAS.iter().find(|(n, _)| n.strip_prefix("output/") == Some(wanted)));
    match found {
        Some((_, text)) => {
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
            Ok(ExitStatus::Success)
        }
        None => anyhow::bail!(
            "no schema `{name}`: `baton schema` lists them ({})",
            SCHEMAS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ),
    }
}
