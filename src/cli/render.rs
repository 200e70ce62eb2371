//! Tables for people: aligned columns whose cells cannot break the layout or the terminal
//! (control characters from a row's text are replaced). On a terminal a table is fitted to its
//! width by shortening its long text columns; into a pipe or a file every value is written whole.

use std::io::IsTerminal;

/// Text for one cell or line: control characters (newlines, escape sequences) become spaces.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// [`clean`] text, cut with `…` when longer than `max` characters.
pub fn cell(text: &str, max: usize) -> String {
    let clean = clean(text);
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// How wide a table's lines may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// Into a pipe or a file: every value whole.
    Unlimited,
    /// A terminal this many columns wide.
    Columns(usize),
}

/// Standard output's width: its columns when it is a terminal, else unlimited.
pub fn stdout_width() -> Width {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return Width::Unlimited;
    }
    match rustix::termios::tcgetwinsize(&stdout) {
        Ok(size) if size.ws_col > 0 => Width::Columns(usize::from(size.ws_col)),
        // A terminal that does not say its size: the classic width.
        _ => Width::Columns(80),
    }
}

/// A shortened column keeps at least this many characters.
const MIN_SHORTENED: usize = 8;

/// An aligned table: a header line, then one line per row, columns two spaces apart. Numbers are
/// right-aligned.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    /// Columns that may be shortened to fit a terminal.
    shrink: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named `headers`; a header starting with `>` is right-aligned, one starting with
    /// `~` may be shortened to fit a terminal (the mark is not shown).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers
                .iter()
                .map(|h| h.trim_start_matches(['>', '~']))
                .collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            shrink: headers.iter().map(|h| h.starts_with('~')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table's lines within `width`: the widest shortenable column loses a character at a
    /// time (its cells then end in `…`) until the lines fit or every such column is down to
    /// [`MIN_SHORTENED`].
    pub fn lines_within(&self, width: Width) -> Vec<String> {
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let all: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let mut widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                all.iter()
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        if let Width::Columns(columns) = width {
            self.shrink_to(&mut widths, columns);
        }
        all.iter().map(|row| self.line(row, &widths)).collect()
    }

    fn shrink_to(&self, widths: &mut [usize], columns: usize) {
        let gaps = 2 * widths.len().saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > columns {
            let widest = (0..widths.len())
                .filter(|i| self.shrink.get(*i).copied().unwrap_or(false))
                .filter(|i| widths[*i] > MIN_SHORTENED)
                .max_by_key(|i| widths[*i]);
            match widest {
                Some(i) => widths[i] -= 1,
                None => return,
            }
        }
    }

    fn line(&self, row: &[String], widths: &[usize]) -> String {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let text = cell(row.get(i).map_or("", String::as_str), *width);
            let text = text.as_str();
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
    fn cells_cannot_carry_control_characters_or_overflow() {
        assert_eq!(cell("a\nb\x1b[31mc", 20), "a b [31mc");
        assert_eq!(cell("abcdefgh", 5), "abcd…");
        assert_eq!(cell("abc", 5), "abc");
    }

    #[test]
    fn a_table_fits_a_terminal_by_shortening_its_long_text_columns_and_a_pipe_gets_it_whole() {
        let mut table = Table::new(&[">ID", "STATE", "~SOURCE", "~LAST ERROR"]);
        let error = "Target refused the row 5 times; last answer HTTP 400: invalid value";
        table.push(vec![
            "7".into(),
            "failed".into(),
            "profile-outbox enqueue".into(),
            error.into(),
        ]);
        let fitted = table.lines_within(Width::Columns(60));
        assert!(
            fitted.iter().all(|l| l.chars().count() <= 60),
            "{fitted:#?}"
        );
        assert!(fitted[1].ends_with('…'), "{fitted:#?}");
        assert!(fitted[1].contains("profile-outbox enqueue"), "{fitted:#?}");
        let whole = table.lines_within(Width::Unlimited);
        assert!(whole[1].ends_with(error), "{whole:#?}");
    }

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut table = Table::new(&[">ID", "STATE", "SOURCE"]);
        table.push(vec!["7".into(), "failed".into(), "till".into()]);
        table.push(vec!["1183".into(), "pending".into(), String::new()]);
        assert_eq!(
            table.lines_within(Width::Unlimited),
            vec![
                "  ID  STATE    SOURCE",
                "   7  failed   till",
                "1183  pending",
            ]
        );
    }
}
