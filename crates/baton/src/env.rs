//! The one place the binary reads process environment variables (besides clap's `env` options).

use anyhow::{Context, Result};

/// `SOURCE_DATE_EPOCH`, when set: the time every bundle entry gets, in seconds since the epoch.
#[allow(clippy::disallowed_methods)]
pub(crate) fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => {
            text.trim().parse::<i64>().map(Some).with_context(|| {
                format!(
                    "SOURCE_DATE_EPOCH is `{text}`: it must be whole seconds since 1970-01-01 UTC"
                )
            })
        }
        _ => Ok(None),
    }
}

/// True when `NO_COLOR` is set to anything non-empty.
#[allow(clippy::disallowed_methods)]
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
