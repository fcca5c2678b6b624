//! How results reach the terminal: tables that align wide CJK characters (comfy-table measures
//! with unicode-width), colour only on a terminal without NO_COLOR and never with `--json`,
//! a spinner on stderr only on a terminal, and times in local time.

use std::{
    future::Future,
    io::{IsTerminal, Write},
    time::Duration,
};

use chrono::{DateTime, Local, TimeZone};
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, TableComponent, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Where output goes and whether it may be coloured.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Colour on stdout.
    pub color: bool,
    /// Colour on stderr.
    pub err_color: bool,
    /// Spinners on stderr.
    pub spinner: bool,
}

impl Out {
    pub fn detect(json: bool) -> Out {
        let no_color = no_color_env();
        Out {
            color: !json && !no_color && std::io::stdout().is_terminal(),
            err_color: !no_color && std::io::stderr().is_terminal(),
            spinner: std::io::stderr().is_terminal(),
        }
    }

    pub fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
            .remove_style(TableComponent::HorizontalLines)
            .remove_style(TableComponent::MiddleIntersections)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if !self.color {
            // Also keeps comfy-table from styling when stdout is a terminal but NO_COLOR is set.
            t.force_no_tty();
        }
        t
    }

    /// Label–value lines without borders, aligned whatever the labels' width.
    pub fn fields(&self, rows: Vec<(&str, String)>) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::NOTHING);
        if !self.color {
            t.force_no_tty();
        }
        for (label, value) in rows {
            t.add_row(vec![
                self.cell(label, Some(Color::DarkGrey), false),
                Cell::new(value),
            ]);
        }
        t
    }

    pub fn header(&self, names: &[&str]) -> Vec<Cell> {
        names
            .iter()
            .map(|n| self.cell(n, None, true))
            .collect::<Vec<_>>()
    }

    pub fn cell(&self, text: impl ToString, fg: Option<Color>, bold: bool) -> Cell {
        let mut c = Cell::new(text);
        if self.color {
            if let Some(fg) = fg {
                c = c.fg(fg);
            }
            if bold {
                c = c.add_attribute(Attribute::Bold);
            }
        }
        c
    }

    /// Text with an ANSI style (`"1"` bold, `"32"` green, ...) when stdout is coloured.
    pub fn paint(&self, text: &str, sgr: &str) -> String {
        paint(self.color, text, sgr)
    }

    /// A line on stderr, coloured when stderr is a terminal.
    pub fn note(&self, text: &str, sgr: &str) {
        let line = paint(self.err_color, text, sgr);
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    /// Runs `f` with a spinner saying `what` on stderr (on a terminal only).
    pub async fn spin<T>(&self, what: &str, f: impl Future<Output = T>) -> T {
        if !self.spinner {
            return f.await;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        let out = f.await;
        bar.finish_and_clear();
        out
    }
}

impl Out {
    /// A byte progress display on stderr: a bar on a terminal, else a line now and then
    /// (each quarter, and whenever the message changes) so logs show it moving.
    pub fn progress(&self, message: &str) -> Progress {
        let bar = self.spinner.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:24}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            out: *self,
            last: None,
        }
    }
}

/// See [`Out::progress`].
pub struct Progress {
    bar: Option<ProgressBar>,
    out: Out,
    /// What the last plain line said: message and quarter.
    last: Option<(String, u64)>,
}

impl Progress {
    pub fn update(&mut self, message: &str, sent: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(sent.min(total));
            bar.set_message(message.to_owned());
            return;
        }
        let quarter = (sent * 4).checked_div(total).unwrap_or(0);
        let now = (message.to_owned(), quarter);
        if self.last.as_ref() != Some(&now) {
            let amount = match (sent * 100).checked_div(total) {
                Some(pct) => format!(" {pct}% ({} / {})", human_bytes(sent), human_bytes(total)),
                None => String::new(),
            };
            self.out.note(&format!("{message}{amount}"), "2");
            self.last = Some(now);
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// "820 B", "12.5 KB", "3.4 MB".
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

pub fn paint(on: bool, text: &str, sgr: &str) -> String {
    if on {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends the program quietly instead of panicking.
pub fn print(text: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{text}")
        .and_then(|_| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// A table on stdout, without the padding comfy-table leaves at line ends.
pub fn print_table(table: &Table) {
    let text = table.to_string();
    print(
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

/// The one JSON document of a `--json` command.
pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => print(text),
        // Our own plain structs always serialise; this is not reachable in practice.
        Err(_) => print("null"),
    }
}

/// A server-clock time (Unix ms) in local time, e.g. "2025-09-01 08:30".
pub fn local_time(ms: i64) -> String {
    to_local(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "?".into())
}

/// The same, as RFC 3339 with the local offset, for JSON.
pub fn local_rfc3339(ms: i64) -> Option<String> {
    to_local(ms).map(|t| t.to_rfc3339())
}

fn to_local(ms: i64) -> Option<DateTime<Local>> {
    Local.timestamp_millis_opt(ms).single()
}

/// Parses a deadline: RFC 3339, or a local "YYYY-MM-DD HH:MM". Unix ms.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.timestamp_millis());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M").ok()?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
}

/// Parses a due time: what [`parse_time`] takes, or a time from `now` (Unix ms, the
/// server's clock): "+90m", "+3h", "+2d".
pub fn parse_due(text: &str, now: i64) -> Option<i64> {
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('+') {
        let unit = rel.chars().last()?;
        let n = &rel[..rel.len() - unit.len_utf8()];
        let n: i64 = n.trim().parse().ok().filter(|n| *n > 0)?;
        let ms = match unit {
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return None,
        };
        return now.checked_add(n.checked_mul(ms)?);
    }
    parse_time(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_parse_in_both_forms() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_time("2025-09-01T08:00:00+08:00"),
            Some(1_756_684_800_000)
        );
        let local = parse_time("2025-09-01 08:00").unwrap();
        assert_eq!(local_time(local), "2025-09-01 08:00");
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn due_times_can_be_relative_to_the_server_clock() {
        assert_eq!(parse_due("+90m", 1000), Some(1000 + 5_400_000));
        assert_eq!(parse_due("+2d", 0), Some(172_800_000));
        assert_eq!(parse_due("+3h", 0), Some(10_800_000));
        assert_eq!(parse_due("1970-01-01T00:00:01Z", 5), Some(1000));
        assert_eq!(parse_due("+0d", 0), None);
        assert_eq!(parse_due("+2w", 0), None);
        assert_eq!(parse_due("+", 0), None);
        assert_eq!(parse_due("+2天", 0), None);
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(820), "820 B");
        assert_eq!(human_bytes(12_800), "12.5 KB");
        assert_eq!(human_bytes(3_565_158), "3.4 MB");
    }

    #[test]
    fn wide_characters_align_in_tables() {
        let out = Out {
            color: false,
            err_color: false,
            spinner: false,
        };
        let mut t = out.table();
        t.set_header(out.header(&["名字", "x"]));
        t.add_row(vec!["李明", "1"]);
        t.add_row(vec!["ab", "2"]);
        let text = t.to_string();
        let widths: Vec<usize> = text
            .lines()
            .filter(|l| l.contains('1') || l.contains('2'))
            .map(|l| {
                let end = l.find(['1', '2']).unwrap();
                unicode_width(&l[..end])
            })
            .collect();
        assert_eq!(widths.len(), 2);
        assert_eq!(widths[0], widths[1], "{text}");
    }

    /// East Asian wide characters take two columns.
    fn unicode_width(s: &str) -> usize {
        s.chars()
            .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
            .sum()
    }
}
