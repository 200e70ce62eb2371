//! The figures as they are measured: one line each as it comes in, and a table of every figure
//! against its goal at the end.

use std::fmt::Write as _;

/// What a figure should be.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
    /// Reported for information, with no goal.
    None,
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub goal: Goal,
    /// Runs, ratios or other context, printed after the value.
    pub detail: String,
}

impl Figure {
    /// "PASS", "MISS" or "-" (no goal).
    pub fn mark(&self) -> &'static str {
        let met = match self.goal {
            Goal::AtLeast(goal) => self.value >= goal,
            Goal::AtMost(goal) => self.value <= goal,
            Goal::None => return "-",
        };
        if met { "PASS" } else { "MISS" }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(goal) => format!(">= {}", number(goal)),
            Goal::AtMost(goal) => format!("<= {}", number(goal)),
            Goal::None => "-".to_owned(),
        }
    }
}

/// Collects figures and prints each as it arrives.
#[derive(Default)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    pub fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str, goal: Goal) {
        self.add_with(name, value, unit, goal, String::new());
    }

    pub fn add_with(
        &mut self,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        goal: Goal,
        detail: String,
    ) {
        let figure = Figure {
            name: name.into(),
            value,
            unit,
            goal,
            detail,
        };
        println!(
            "  {:<52} {:>12} {:<8} goal {:<10} {:<4} {}",
            figure.name,
            number(figure.value),
            figure.unit,
            figure.goal_text(),
            figure.mark(),
            figure.detail
        );
        self.figures.push(figure);
    }

    /// Every figure as a Markdown table, the form BENCHMARKS.md keeps.
    pub fn table(&self) -> String {
        let mut out =
            String::from("| figure | goal | median | unit | mark |\n|---|---|---|---|---|\n");
        for f in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.name,
                f.goal_text(),
                number(f.value),
                f.unit,
                f.mark()
            );
        }
        out
    }
}

/// A number shown with sensible precision: 12,345 / 12.3 / 0.123.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        thousands(value.round() as i64)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 { format!("-{out}") } else { out }
}
