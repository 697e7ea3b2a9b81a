//! The machine-output contract: every command's `--output json` document is one of the types
//! listed in [`documents`], each with a JSON Schema committed under `schemas/output/`, and every
//! failure (exit 1, 2, 3) prints one [`ErrorDocument`] on stdout.

pub(crate) use baton::document::{ErrorBody, ErrorDocument, ErrorKind};

/// How a command that failed with `kind` ends: a refusal is exit 3, any other failure exit 1.
pub(crate) fn exit_status(kind: ErrorKind) -> crate::ExitStatus {
    if kind == ErrorKind::Refused { crate::ExitStatus::Refused } else { crate::ExitStatus::Error }
}

/// The document of `error`, which ends the command with the exit code of `kind`.
pub(crate) fn error_document(error: &anyhow::Error, kind: ErrorKind) -> ErrorDocument {
    let promote = error.chain().find_map(|e| e.downcast_ref::<baton_promote::PromoteError>());
    let gates = promote.map(|e| e.gates().to_vec()).unwrap_or_default();
    let fixes: Vec<&str> =
        gates.iter().filter(|g| !g.held).filter_map(|g| g.fix.as_deref()).collect();
    ErrorDocument {
        error: ErrorBody {
            kind,
            message: error.to_string(),
            causes: causes(error),
            hint: if fixes.is_empty() { next_step(error) } else { Some(fixes.join("; ")) },
            exit_code: kind.exit_code(),
        },
        gates,
    }
}

/// The document of a command line clap refused.
pub(crate) fn usage_document(error: &clap::Error) -> ErrorDocument {
    let text = error.render().to_string();
    // clap's message is every line before its usage and help lines.
    let message = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned();
    let hint = text.lines().find(|l| l.contains("--help")).map(|l| l.trim().to_owned());
    ErrorDocument {
        error: ErrorBody {
            kind: ErrorKind::Usage,
            message,
            causes: Vec::new(),
            hint,
            exit_code: 2,
        },
        gates: Vec::new(),
    }
}

/// The causes below the message, outermost first. Each is printed once because no baton error
/// both shows its source in its message and returns it as `source()`.
pub(crate) fn causes(error: &anyhow::Error) -> Vec<String> {
    error.chain().skip(1).map(ToString::to_string).collect()
}

/// What to run next, when the store or state error knows (`baton bundle list --store …`,
/// `git ls-remote URL`). Printed after the causes, and the JSON document's `hint`.
pub(crate) fn next_step(error: &anyhow::Error) -> Option<String> {
    error.chain().map(unwrapped).find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<baton_store::StoreError>() {
            e.next_step()
        } else if let Some(e) = cause.downcast_ref::<baton_promote::PromoteError>() {
            e.next_step()
        } else {
            cause
                .downcast_ref::<baton_state::StateError>()
                .and_then(baton_state::StateError::next_step)
        }
    })
}

/// The error `cause` stands for: a variant that only wraps another crate's error is
/// `#[error(transparent)]`, so the chain never shows what it wraps; this looks through such
/// variants (and through a boxed store error) to the error itself.
fn unwrapped<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    use baton_apply::ApplyError as A;
    use baton_promote::PromoteError as P;
    use baton_view::ViewError as V;
    let inner: Option<&'a (dyn std::error::Error + 'static)> =
        if let Some(e) = cause.downcast_ref::<A>() {
            match e {
                A::State(e) => Some(e),
                A::Store(e) => Some(e),
                A::Target(e) => Some(e),
                _ => None,
            }
        } else if let Some(e) = cause.downcast_ref::<P>() {
            match e {
                P::State(e) => Some(e),
                P::Store(e) => Some(e),
                P::View(e) => Some(e),
                _ => None,
            }
        } else if let Some(e) = cause.downcast_ref::<V>() {
            match e {
                V::State(e) => Some(e),
                V::Store(e) => Some(e),
                _ => None,
            }
        } else if let Some(e) = cause.downcast_ref::<Box<baton_store::StoreError>>() {
            Some(&**e)
        } else {
            None
        };
    inner.map_or(cause, unwrapped)
}

/// Which part failed: the outermost baton error of the chain decides, seen through the variants
/// that only wrap another crate's error ([`unwrapped`]).
pub(crate) fn kind_of(error: &anyhow::Error) -> ErrorKind {
    use baton_apply::ApplyError as A;
    use baton_build::BuildError as B;
    use baton_promote::PromoteError as P;
    for cause in error.chain().map(unwrapped) {
        if let Some(e) = cause.downcast_ref::<P>() {
            return if e.is_refusal() { ErrorKind::Refused } else { ErrorKind::State };
        }
        if let Some(e) = cause.downcast_ref::<A>() {
            return match e {
                A::NotAdmitted { .. } | A::Unjudged { .. } => ErrorKind::Refused,
                _ => ErrorKind::Target,
            };
        }
        if let Some(e) = cause.downcast_ref::<B>() {
            return match e {
                B::Store { .. } | B::Push { .. } => ErrorKind::Store,
                B::Provenance { .. } => ErrorKind::State,
                _ => ErrorKind::Bundle,
            };
        }
        if let Some(e) = cause.downcast_ref::<baton_view::ViewError>() {
            return view_kind(e);
        }
        if cause.is::<baton_state::StateError>() || cause.is::<baton_audit::AuditError>() {
            return ErrorKind::State;
        }
        if cause.is::<baton_store::StoreError>() {
            return ErrorKind::Store;
        }
        if cause.is::<baton_bundle::DescriptorError>() || cause.is::<baton_bundle::UnpackError>() {
            return ErrorKind::Bundle;
        }
        if cause.is::<baton_target::TargetError>() {
            return ErrorKind::Target;
        }
    }
    ErrorKind::Other
}

fn view_kind(error: &baton_view::ViewError) -> ErrorKind {
    use baton_view::ViewError as V;
    match error {
        V::NotInStore { .. } => ErrorKind::Store,
        V::BadBundle { .. } | V::WrongBundle { .. } => ErrorKind::Bundle,
        _ => ErrorKind::State,
    }
}

/// Every `--output json` document: its schema's file under `schemas/output/` and the schema.
/// (The audit report's is `schemas/audit-report.schema.json`, generated by `baton-audit`.)
#[cfg(test)]
pub(crate) fn documents() -> Vec<(&'static str, schemars::Schema)> {
    use schemars::schema_for;
    vec![
        ("error.schema.json", schema_for!(ErrorDocument)),
        ("bundle-build.schema.json", schema_for!(baton_build::BuildReport)),
        ("bundle-list.schema.json", schema_for!(Vec<baton_build::ListedBundle>)),
        ("bundle-inspect.schema.json", schema_for!(baton_build::InspectReport)),
        ("bundle-verify.schema.json", schema_for!(baton_build::VerifyReport)),
        ("bundle-unpack.schema.json", schema_for!(baton_build::UnpackReport)),
        ("bundle-copy.schema.json", schema_for!(baton_build::CopyOutcome)),
        ("bundle-export.schema.json", schema_for!(baton_build::ExportReport)),
        ("sign.schema.json", schema_for!(baton_build::SignReport)),
        ("evidence.schema.json", schema_for!(baton_build::EvidenceReport)),
        ("init.schema.json", schema_for!(baton_promote::Initialised)),
        ("promote.schema.json", schema_for!(baton_promote::Promotion)),
        ("approve.schema.json", schema_for!(baton_promote::Approval)),
        ("status.schema.json", schema_for!(Vec<baton_view::StatusRow>)),
        ("diff.schema.json", schema_for!(Vec<baton_view::BundleDiff>)),
        ("history.schema.json", schema_for!(Vec<baton_view::HistoryEntry>)),
        ("plan.schema.json", schema_for!(Vec<baton_apply::Plan>)),
        ("apply.schema.json", schema_for!(Vec<baton_apply::Applied>)),
        ("render.schema.json", schema_for!(baton_apply::RenderReport)),
        ("publish.schema.json", schema_for!(baton_build::Published)),
        ("drift.schema.json", schema_for!(Vec<baton_apply::DriftReport>)),
        ("agent.schema.json", schema_for!(Vec<baton_apply::PassReport>)),
        ("agent-health.schema.json", schema_for!(crate::agent::Health<'static>)),
        ("schema.schema.json", schema_for!(Vec<String>)),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Fails when a committed schema differs from the types; `BATON_UPDATE_SCHEMAS=1` rewrites them.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn committed_output_schemas_match_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/output");
        let update = std::env::var_os("BATON_UPDATE_SCHEMAS").is_some();
        for (name, schema) in super::documents() {
            let mut text = serde_json::to_string_pretty(&schema).unwrap();
            text.push('\n');
            let path = dir.join(name);
            if update {
                fs_err::create_dir_all(&dir).unwrap();
                fs_err::write(&path, &text).unwrap();
            }
            let committed = fs_err::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "schemas/output/{name} is out of date: run `BATON_UPDATE_SCHEMAS=1 cargo test -p baton output` and commit it"
            );
        }
    }
}
