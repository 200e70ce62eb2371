//! Shrinks a failing history: drops steps, then rows within the remaining inserts, as long as
//! the same invariant still breaks. The result is written as `SIM_KEEP`, which replays it.

use crate::invariant::Invariant;
use crate::plan::{History, Step};

/// Which steps to keep, and for an insert which of its rows (all when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep(pub Vec<(usize, Option<Vec<usize>>)>);

/// Runs allowed while minimising one history.
const BUDGET: usize = 120;

impl Keep {
    pub fn all(history: &History) -> Keep {
        Keep((0..history.steps.len()).map(|i| (i, None)).collect())
    }

    /// Reads `SIM_KEEP`: `0,3,5:0.2` keeps steps 0 and 3 whole and rows 0 and 2 of step 5.
    pub fn parse(text: &str) -> Option<Keep> {
        let mut kept = Vec::new();
        for item in text.split(',').filter(|s| !s.trim().is_empty()) {
            let (step, rows) = match item.split_once(':') {
                Some((step, rows)) => {
                    let rows: Option<Vec<usize>> =
                        rows.split('.').map(|r| r.trim().parse().ok()).collect();
                    (step, Some(rows?))
                }
                None => (item, None),
            };
            kept.push((step.trim().parse().ok()?, rows));
        }
        Some(Keep(kept))
    }

    pub fn render(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(step, rows)| match rows {
                None => step.to_string(),
                Some(rows) => format!(
                    "{step}:{}",
                    rows.iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(".")
                ),
            })
            .collect();
        items.join(",")
    }

    /// The history with only the kept steps and rows.
    pub fn apply(&self, history: &History) -> History {
        let steps = self
            .0
            .iter()
            .filter_map(|(i, rows)| {
                let step = history.steps.get(*i)?.clone();
                Some(match (step, rows) {
                    (Step::Insert(all), Some(rows)) => {
                        Step::Insert(rows.iter().filter_map(|r| all.get(*r).cloned()).collect())
                    }
                    (step, _) => step,
                })
            })
            .collect();
        History {
            steps,
            ..history.clone()
        }
    }
}

/// The smallest history found that still breaks `invariant`. `breaks` runs a candidate.
pub fn minimise(
    history: &History,
    invariant: Invariant,
    mut breaks: impl FnMut(&History, Invariant) -> bool,
) -> Keep {
    let mut keep = Keep::all(history);
    let mut runs = 0;
    let mut chunk = keep.0.len().div_ceil(2).max(1);
    loop {
        let mut start = 0;
        while start < keep.0.len() && runs < BUDGET {
            let mut candidate = keep.clone();
            let end = (start + chunk).min(candidate.0.len());
            candidate.0.drain(start..end);
            runs += 1;
            if breaks(&candidate.apply(history), invariant) {
                keep = candidate;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 || runs >= BUDGET {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    shrink_rows(history, invariant, keep, &mut runs, &mut breaks)
}

/// Drops single rows from the kept inserts.
fn shrink_rows(
    history: &History,
    invariant: Invariant,
    mut keep: Keep,
    runs: &mut usize,
    breaks: &mut impl FnMut(&History, Invariant) -> bool,
) -> Keep {
    for slot in 0..keep.0.len() {
        let (step, _) = keep.0[slot].clone();
        let Some(Step::Insert(rows)) = history.steps.get(step) else {
            continue;
        };
        let mut rows_kept: Vec<usize> = (0..rows.len()).collect();
        let mut i = 0;
        while i < rows_kept.len() && rows_kept.len() > 1 && *runs < BUDGET {
            let mut fewer = rows_kept.clone();
            fewer.remove(i);
            let mut candidate = keep.clone();
            candidate.0[slot] = (step, Some(fewer.clone()));
            *runs += 1;
            if breaks(&candidate.apply(history), invariant) {
                rows_kept = fewer;
                keep = candidate;
            } else {
                i += 1;
            }
        }
    }
    keep
}
