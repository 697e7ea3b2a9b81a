//! All terminal output goes through `Printer`: data to stdout (tables or one JSON document),
//! status and errors to stderr. Colour only decorates; it never carries meaning alone.
// The printer is where stdout and stderr are written; its methods take `self` even where they
// need no field, so every command writes through the one instance it was given.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unused_self)]

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use anyhow::Result;

use crate::cli::{ColorChoice, OutputFormat};

pub(crate) struct Printer {
    format: OutputFormat,
    stdout_color: bool,
    stderr_color: bool,
}

pub(crate) const BOLD: Style = Style::new().bold();
pub(crate) const GREEN: Style = AnsiColor::Green.on_default().bold();
pub(crate) const RED: Style = AnsiColor::Red.on_default().bold();
pub(crate) const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
pub(crate) const DIM: Style = Style::new().dimmed();

impl Printer {
    pub(crate) fn new(format: OutputFormat, choice: ColorChoice) -> Printer {
        let decide = |terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !crate::env::no_color(),
        };
        Printer {
            format,
            stdout_color: decide(std::io::stdout().is_terminal()),
            stderr_color: decide(std::io::stderr().is_terminal()),
        }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Wraps `text` in `style` when stdout is coloured.
    pub(crate) fn paint(&self, style: Style, text: &str) -> String {
        if self.stdout_color { format!("{style}{text}{style:#}") } else { text.to_owned() }
    }

    fn paint_err(&self, style: Style, text: &str) -> String {
        if self.stderr_color { format!("{style}{text}{style:#}") } else { text.to_owned() }
    }

    /// One line of data on stdout.
    pub(crate) fn line(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        Ok(())
    }

    /// One JSON document on stdout.
    /// Streamed as it serializes: a large report is never held twice.
    pub(crate) fn json(&self, value: &impl serde::Serialize) -> Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }

    /// A table on stdout; column widths fit the widest cell (counting visible characters).
    pub(crate) fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(visible_len(cell));
            }
        }
        let mut out = std::io::stdout().lock();
        let header: Vec<String> = headers.iter().map(|h| self.paint(BOLD, h)).collect();
        write_row(&mut out, &header, &widths)?;
        for row in rows {
            write_row(&mut out, row, &widths)?;
        }
        Ok(())
    }

    /// A status line on stderr, cargo style: a right-aligned verb, then what happened.
    pub(crate) fn status(&self, verb: &str, text: &str) {
        if self.is_json() {
            return;
        }
        eprintln!("{} {text}", self.paint_err(GREEN, &format!("{verb:>12}")));
    }

    /// A progress bar of `total` bytes on stderr; drawn only when stderr is a terminal and the
    /// output is for people.
    pub(crate) fn progress(&self, total: u64, message: &str) -> indicatif::ProgressBar {
        if self.is_json() || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("holds because the template is valid")
            .progress_chars("=> "),
        );
        bar.set_message(message.to_owned());
        bar
    }

    /// A warning on stderr.
    pub(crate) fn warn(&self, text: &str) {
        eprintln!("{} {text}", self.paint_err(YELLOW, "warning:"));
    }

    /// An error and its causes on stderr.
    pub(crate) fn error(&self, error: &anyhow::Error) {
        eprintln!("{} {error}", self.paint_err(RED, "error:"));
        for cause in crate::output::causes(error) {
            eprintln!("  {} {cause}", self.paint_err(DIM, "caused by:"));
        }
        if let Some(step) = crate::output::next_step(error) {
            eprintln!("  {} {step}", self.paint_err(DIM, "hint:"));
        }
    }

    /// The one JSON document of a failure on stdout; a failure to write it is not reported
    /// again (stderr already holds the error).
    pub(crate) fn error_json(&self, document: &crate::output::ErrorDocument) {
        let _ = self.json(document);
    }
}

fn write_row(out: &mut impl Write, cells: &[String], widths: &[usize]) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        line.push_str(cell);
        if i + 1 < cells.len() {
            line.push_str(&" ".repeat(width - visible_len(cell) + 2));
        }
    }
    writeln!(out, "{line}")
}

/// The length of `text` without ANSI escape sequences.
fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => len += 1,
        }
    }
    len
}

/// True when the error is a closed stdout (as with `baton bundle list | head -1`).
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Sizes for people: `512 B`, `3.4 KiB`, `1.0 GiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
