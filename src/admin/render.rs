//! Output for people: times (`2026-11-28 14:05:07Z`, `3m ago`), and aligned tables whose cells
//! cannot break the layout or the terminal (control characters from a row's text are replaced).

use std::time::{Duration, UNIX_EPOCH};

/// A wall-clock time as `2026-11-28 14:05:07Z` (UTC).
pub fn clock_time(wall_ms: i64) -> String {
    rfc3339(wall_ms).replacen('T', " ", 1)
}

/// A wall-clock time as RFC 3339, `2026-11-28T14:05:07Z`, for JSON.
pub fn rfc3339(wall_ms: i64) -> String {
    let ms = u64::try_from(wall_ms).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A span as people say it, to two units at most: `45s`, `3m`, `2h 5m`, `3d 4h`.
pub fn age(span_ms: i64) -> String {
    let s = span_ms.unsigned_abs() / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `3m ago` or `in 3m`, from `now_ms` to `wall_ms`.
pub fn relative(wall_ms: i64, now_ms: i64) -> String {
    let span = wall_ms.saturating_sub(now_ms);
    if span.abs() < 1000 {
        "now".into()
    } else if span < 0 {
        format!("{} ago", age(span))
    } else {
        format!("in {}", age(span))
    }
}

/// `1 row`, `2 rows`: a count and its noun, plural but for one.
pub fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2026-11-28 14:05:07Z (3m ago)`.
pub fn when(wall_ms: i64, now_ms: i64) -> String {
    format!("{} ({})", clock_time(wall_ms), relative(wall_ms, now_ms))
}

/// Text for one cell or line: control characters (newlines, escape sequences) become spaces, and
/// text longer than `max` characters is cut with `…`.
pub fn cell(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An aligned table: a header line, then one line per row, columns two spaces apart. Numbers are
/// right-aligned.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named `headers`; a header starting with `>` is right-aligned (the `>` is not shown).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.trim_start_matches('>')).collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table's lines, without trailing spaces.
    pub fn lines(&self) -> Vec<String> {
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let all: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                all.iter()
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        all.iter().map(|row| self.line(row, &widths)).collect()
    }

    fn line(&self, row: &[String], widths: &[usize]) -> String {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let text = row.get(i).map_or("", String::as_str);
            let pad = width.saturating_sub(text.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            if self.right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            } else {
                line.push_str(text);
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_with_seconds() {
        assert_eq!(clock_time(1_795_874_707_000), "2026-11-28 14:05:07Z");
        assert_eq!(rfc3339(1_795_874_707_999), "2026-11-28T14:05:07Z");
    }

    #[test]
    fn spans_read_in_at_most_two_units() {
        assert_eq!(age(45_000), "45s");
        assert_eq!(age(-180_000), "3m");
        assert_eq!(age(7_500_000), "2h 5m");
        assert_eq!(age(7_200_000), "2h");
        assert_eq!(age(3 * 86_400_000 + 4 * 3_600_000 + 60_000), "3d 4h");
        assert_eq!(relative(1_000, 181_000), "3m ago");
        assert_eq!(relative(181_000, 1_000), "in 3m");
        assert_eq!(relative(1_000, 1_500), "now");
    }

    #[test]
    fn cells_cannot_carry_control_characters_or_overflow() {
        assert_eq!(cell("a\nb\x1b[31mc", 20), "a b [31mc");
        assert_eq!(cell("abcdefgh", 5), "abcd…");
        assert_eq!(cell("abc", 5), "abc");
    }

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut table = Table::new(&[">ID", "STATE", "SOURCE"]);
        table.push(vec!["7".into(), "failed".into(), "till".into()]);
        table.push(vec!["1183".into(), "pending".into(), String::new()]);
        assert_eq!(
            table.lines(),
            vec![
                "  ID  STATE    SOURCE",
                "   7  failed   till",
                "1183  pending",
            ]
        );
    }
}
