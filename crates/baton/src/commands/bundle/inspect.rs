//! `bundle inspect`: everything a bundle says about itself, for people or as JSON.

use anyhow::Result;
use baton_build::InspectReport;
use baton_store::RegistryOptions;

use super::open_or_report;
use crate::{
    ExitStatus,
    cli::RefArgs,
    printer::{BOLD, Printer, human_size},
};

/// Long because it is a flat list of lines for people, section by section; there is no logic to
/// split out.
pub(super) fn inspect(
    args: &RefArgs,
    printer: &Printer,
    options: &RegistryOptions,
) -> Result<ExitStatus> {
    let (resolved, opened) = match open_or_report(&args.reference, options, printer)? {
        Ok(opened) => opened,
        Err(status) => return Ok(status),
    };
    let config = &opened.config;
    if printer.is_json() {
        printer.json(&InspectReport {
            reference: resolved.pinned(),
            digest: opened.digest.clone(),
            size: opened.size(),
            manifest: opened.manifest.clone(),
            config: config.clone(),
        })?;
        return Ok(ExitStatus::Success);
    }
    let heading = |text: &str| printer.paint(BOLD, text);
    let mut lines = vec![
        format!("{} {} {}", heading("Bundle"), config.name, config.version),
        format!("  digest       {}", opened.digest),
        format!("  reference    {}", resolved.pinned()),
        format!("  format       {}", config.format),
        format!("  size         {} ({} files)", human_size(opened.size()), config.files.len()),
    ];
    if let Some(created) = &config.created {
        lines.push(format!("  created      {created}"));
    }
    if let Some(description) = &config.description {
        lines.push(format!("  description  {description}"));
    }
    lines.push(String::new());
    lines.push(heading("Source"));
    lines.extend(source_lines(config));
    lines.push(String::new());
    lines.push(heading("Manifest"));
    lines.push(format!(
        "  artifactType {}",
        opened.manifest.artifact_type.as_deref().unwrap_or("-")
    ));
    lines.push(format!(
        "  config       {} {} ({})",
        opened.manifest.config.digest,
        human_size(opened.manifest.config.size),
        opened.manifest.config.media_type
    ));
    let layer = opened.layer();
    lines.push(format!(
        "  layer        {} {} ({})",
        layer.digest,
        human_size(layer.size),
        layer.media_type
    ));
    lines.push(format!(
        "  tar          {} {}",
        config.layer.tar_digest,
        human_size(config.layer.tar_size)
    ));
    let c = &config.layer.compressor;
    lines.push(format!(
        "  compressor   {} {} level {}, {} blocks",
        c.name,
        c.version,
        c.level,
        human_size(c.block_size)
    ));
    lines.push(String::new());
    lines.push(heading("Render"));
    lines.push(if config.render.is_empty() {
        "  (nothing: every file is copied byte for byte)".into()
    } else {
        format!("  {}", config.render.join(", "))
    });
    lines.push(String::new());
    for line in &lines {
        printer.line(line)?;
    }
    printer.line(&heading("Parameters"))?;
    if config.params.is_empty() {
        printer.line("  (none)")?;
    } else {
        printer.table(&["  NAME", "TYPE", "RULES", "DESCRIPTION"], &param_rows(config))?;
    }
    printer.line("")?;
    printer.line(&heading("Files"))?;
    printer.table(&["  MODE", "SIZE", "CONTENT", "PATH"], &file_rows(config))?;
    Ok(ExitStatus::Success)
}

fn param_rows(config: &baton_model::BundleConfig) -> Vec<Vec<String>> {
    config
        .params
        .specs()
        .iter()
        .map(|(name, spec)| {
            let mut rules = Vec::new();
            if spec.required {
                rules.push("required".to_owned());
            }
            if let Some(default) = &spec.default {
                rules.push(format!("default {default}"));
            }
            if let Some(allowed) = &spec.allowed {
                rules.push(format!(
                    "one of {}",
                    allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join("|")
                ));
            }
            if let Some(min) = spec.minimum {
                rules.push(format!(">= {min}"));
            }
            if let Some(max) = spec.maximum {
                rules.push(format!("<= {max}"));
            }
            if let Some(pattern) = &spec.pattern {
                rules.push(format!("matches {pattern}"));
            }
            if spec.secret {
                rules.push("secret".to_owned());
            }
            vec![
                format!("  {name}"),
                format!("{:?}", spec.ty).to_lowercase(),
                rules.join(", "),
                spec.description.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

fn file_rows(config: &baton_model::BundleConfig) -> Vec<Vec<String>> {
    config
        .files
        .iter()
        .map(|f| {
            let content = match (&f.sha256, &f.target) {
                (Some(digest), _) => format!("sha256:{}", digest.short()),
                (None, Some(target)) => format!("-> {target}"),
                (None, None) => String::new(),
            };
            vec![format!("  {}", f.mode), human_size(f.size), content, f.path.clone()]
        })
        .collect()
}

/// The Source section: what a format-1 bundle recorded of its commit; a format-2 bundle records
/// none, its digest being its files alone.
fn source_lines(config: &baton_model::BundleConfig) -> Vec<String> {
    match &config.source {
        Some(source) => vec![
            format!(
                "  repository   {}",
                source.repository.as_deref().unwrap_or("(no remote `origin`)")
            ),
            format!("  commit       {}", source.commit),
            format!("  tree         {} ({})", source.tree, source.path),
            format!(
                "  clean        {}",
                if source.clean { "yes" } else { "no: built with --allow-dirty" }
            ),
        ],
        None if config.format >= 2 => {
            vec!["  not in the bundle: its digest is its files alone".into()]
        }
        None => vec!["  not built from a git work tree".into()],
    }
}
