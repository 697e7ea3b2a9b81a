//! The promote-time render: before a byte is copied, the bundle's templates are rendered with the
//! target environment's params (each secret as its typed placeholder), so a template that
//! cannot render there (an undefined parameter, a filter given the wrong type, a loop past its
//! budget) is refused at the promotion, naming file, line and environment, instead of failing
//! on prod's targets. A failure that may depend on a secret's real value (the file read a
//! placeholder, and the error is not an undefined value, unknown name or syntax) is a warning:
//! the applier renders with the value. Break-glass and rollback skip the check: they are for
//! the moments a check must not stand in the way. Only the templates are read, from a stream of the layer that is verified
//! on the way; a bundle without templates reads nothing.

use baton_bundle::{
    open_bundle, read_templates,
    template::{RenderFailure, Renderer, Values},
};
use baton_model::{BundleName, Digest, Environment};
use baton_store::Store;
use baton_view::CheckedParams;

use crate::{PromoteError, error::DoesNotRender};

/// Renders every template of `bundle` `digest` (in `store`) for `env` with `params`; the first
/// that fails is the refusal.
pub(crate) fn check_renders(
    store: &Store,
    env: &Environment,
    bundle: &BundleName,
    digest: &Digest,
    params: &CheckedParams,
) -> Result<(), PromoteError> {
    let blobs = store.blobs(bundle);
    let opened = open_bundle(blobs.as_ref(), digest).map_err(|e| PromoteError::Unreadable {
        bundle: bundle.clone(),
        digest: digest.clone(),
        source: e,
    })?;
    let config = &opened.config;
    let values = Values::with_placeholders(&params.values, &config.params);
    let refuse = |failure: RenderFailure| {
        PromoteError::DoesNotRender(Box::new(DoesNotRender {
            bundle: bundle.clone(),
            env: env.name.clone(),
            digest: digest.clone(),
            params: params.path.clone(),
            file: failure.file,
            line: failure.line,
            message: failure.message,
        }))
    };
    let renderer =
        Renderer::new(config, digest, &env.name, &values, env.render_limits).map_err(refuse)?;
    if !renderer.has_templates(config) {
        return Ok(());
    }
    let layer = blobs.open_blob(&opened.layer().digest, opened.layer().size)?;
    // `read_templates` asks `wants` and hands a file to `found` one after the other, never at
    // once, so the two borrows of the renderer never meet.
    let renderer = std::cell::RefCell::new(renderer);
    let mut failure = None;
    let wants = |path: &str| renderer.borrow().wants(path);
    let findings = read_templates(layer, opened.layer(), config, &wants, &mut |path, bytes| {
        if failure.is_some() {
            return;
        }
        let result = match String::from_utf8(bytes) {
            Ok(source) => renderer.borrow_mut().render(path, &source).map(drop),
            Err(_) => Err(RenderFailure {
                file: path.to_owned(),
                line: None,
                message: "it is not UTF-8 text, so it cannot be a template".into(),
                read_secret: false,
                certain: true,
            }),
        };
        match result {
            // A placeholder stood where the secret will be: whether the secret renders is for
            // the applier to find, with the real value.
            Err(e) if e.read_secret && !e.certain => tracing::warn!(
                env = %env.name,
                file = %e.file,
                "renders here only with the real secret (with its placeholder: {}); apply will tell",
                e.message
            ),
            Err(e) => failure = Some(e),
            Ok(()) => {}
        }
    })?;
    if !findings.is_empty() {
        return Err(PromoteError::Unreadable {
            bundle: bundle.clone(),
            digest: digest.clone(),
            source: baton_bundle::OpenError::Findings(findings),
        });
    }
    match failure {
        Some(failure) => Err(refuse(failure)),
        None => Ok(()),
    }
}
