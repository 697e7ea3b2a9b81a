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

    /// Whether what goes to stderr may be coloured (the log lines follow it too).
    pub(crate) fn stderr_color(&self) -> bool {
        self.stderr_color
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
        writeln!(out, "{}", clean(text, Newlines::Keep, self.stdout_color))?;
        Ok(())
    }

    /// One record on stdout that must stay one line (a finding): line breaks in it are shown
    /// escaped, so hostile text cannot forge a line of its own.
    pub(crate) fn record(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", clean(text, Newlines::Escape, self.stdout_color))?;
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
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| clean(c, Newlines::Escape, self.stdout_color).into_owned())
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(visible_len(cell));
            }
        }
        let mut out = std::io::stdout().lock();
        let header: Vec<String> = headers.iter().map(|h| self.paint(BOLD, h)).collect();
        write_row(&mut out, &header, &widths)?;
        for row in &rows {
            write_row(&mut out, row, &widths)?;
        }
        Ok(())
    }

    /// A status line on stderr, cargo style: a right-aligned verb, then what happened.
    pub(crate) fn status(&self, verb: &str, text: &str) {
        if self.is_json() {
            return;
        }
        let text = clean(text, Newlines::Escape, self.stderr_color);
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
        let text = clean(text, Newlines::Keep, self.stderr_color);
        eprintln!("{} {text}", self.paint_err(YELLOW, "warning:"));
    }

    /// An error and its causes on stderr.
    pub(crate) fn error(&self, error: &anyhow::Error) {
        let clean = |text: &str| clean(text, Newlines::Keep, self.stderr_color).into_owned();
        eprintln!("{} {}", self.paint_err(RED, "error:"), clean(&error.to_string()));
        for cause in crate::output::causes(error) {
            eprintln!("  {} {}", self.paint_err(DIM, "caused by:"), clean(&cause));
        }
        if let Some(step) = crate::output::next_step(error) {
            eprintln!("  {} {}", self.paint_err(DIM, "hint:"), clean(&step));
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

/// Whether a line break in text for people is kept (messages) or shown escaped (table cells
/// and status lines, where it would forge a row).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Newlines {
    Keep,
    Escape,
}

/// Text from repositories, bundles and commands made safe for a terminal: every control
/// character (C0, DEL, C1) and every bidirectional override is shown escaped (`\x1b`,
/// `\u{202e}`), so a commit subject, a description or a reason can neither move the cursor,
/// retitle the window, hide text nor reorder what is shown. Where colour is on, the printer's
/// own styles pass, and only they.
fn clean(text: &str, newlines: Newlines, colour: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(c == '\n' && newlines == Newlines::Keep))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && colour
            && let Some(own) = own_styles().find(|s| rest.starts_with(s.as_str()))
        {
            out.push_str(&own);
            rest = &rest[own.len()..];
            continue;
        }
        if unsafe_char(c) {
            // Writing into a String cannot fail.
            let _ = if (c as u32) < 0x80 {
                std::fmt::Write::write_fmt(&mut out, format_args!("\\x{:02x}", c as u32))
            } else {
                std::fmt::Write::write_fmt(&mut out, format_args!("\\u{{{:x}}}", c as u32))
            };
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// The escape sequences the printer's own styles write: each style and its reset.
fn own_styles() -> impl Iterator<Item = String> {
    [BOLD, GREEN, RED, YELLOW, DIM].into_iter().flat_map(|s| [format!("{s}"), format!("{s:#}")])
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

#[cfg(test)]
mod tests {
    use super::{BOLD, Newlines, clean};

    #[test]
    fn control_characters_and_overrides_are_shown_escaped() {
        let hostile = "INC\x1b]0;pwned\x07 \x1b[2J\rfake\u{202e}txt\nnext\u{85}";
        assert_eq!(
            clean(hostile, Newlines::Escape, false),
            "INC\\x1b]0;pwned\\x07 \\x1b[2J\\x0dfake\\u{202e}txt\\x0anext\\u{85}"
        );
        assert_eq!(clean("a\nb", Newlines::Keep, false), "a\nb");
        assert_eq!(clean("plain text", Newlines::Escape, false), "plain text");
    }

    #[test]
    fn only_the_printers_own_styles_pass_when_colour_is_on() {
        let own = format!("{BOLD}bold{BOLD:#}");
        assert_eq!(clean(&own, Newlines::Escape, true), own);
        assert_eq!(clean(&own, Newlines::Escape, false), own.replace('\x1b', "\\x1b"));
        assert_eq!(clean("\x1b[8mhidden", Newlines::Escape, true), "\\x1b[8mhidden");
    }
}
