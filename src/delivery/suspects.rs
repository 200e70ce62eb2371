//! Rows under suspicion: their request met an answer that paused everyone (an outage, a refused
//! token). When a suspect's request meets such an answer again while the gate is fully open, so
//! while everyone else's requests get through (see `Gate::judge`), the row earns a strike instead
//! of pausing everyone; a row with [`STRIKES_TO_FAIL`] strikes fails with the reason.
//!
//! Many strikes in a row are asked for because a flaky network produces the same pattern by
//! chance: with 30% of answers cut off, twelve in a row happen to one suspect in about two
//! million, while a WAF refusing one value, or a value that always breaks the server, strikes
//! every time.
//!
//! Kept in memory only: a restart forgets them, and a row's next such answer makes it a suspect
//! again. Bounded: past [`MOST`] rows (a long outage makes many suspects) it starts afresh.

use std::collections::HashMap;
use std::sync::Mutex;

/// Strikes in a row that fail a row.
pub const STRIKES_TO_FAIL: u32 = 12;

/// More suspects than this are not remembered: the oldest pauses are long past by then.
const MOST: usize = 4_096;

/// Suspect row ids and their strikes so far.
#[derive(Debug, Default)]
pub struct Suspects {
    rows: Mutex<HashMap<i64, u32>>,
}

impl Suspects {
    /// Whether every one of `ids` is a suspect (and there is at least one).
    pub fn all(&self, ids: &[i64]) -> bool {
        !ids.is_empty() && self.with(|rows| ids.iter().all(|id| rows.contains_key(id)))
    }

    pub fn add(&self, ids: &[i64]) {
        self.with(|rows| {
            if rows.len() + ids.len() > MOST {
                rows.clear();
            }
            for id in ids {
                rows.entry(*id).or_insert(0);
            }
        });
    }

    /// One more strike for each of `ids`; returns the most any of them has now.
    pub fn strike(&self, ids: &[i64]) -> u32 {
        self.with(|rows| {
            ids.iter()
                .map(|id| {
                    let strikes = rows.entry(*id).or_insert(0);
                    *strikes = strikes.saturating_add(1);
                    *strikes
                })
                .max()
                .unwrap_or(0)
        })
    }

    /// Forgets rows that are done with: delivered, or failed.
    pub fn forget(&self, ids: impl IntoIterator<Item = i64>) {
        self.with(|rows| {
            if !rows.is_empty() {
                for id in ids {
                    rows.remove(&id);
                }
            }
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<i64, u32>) -> T) -> T {
        // A map of ids holds no invariant a panic elsewhere could break; keep using it.
        let mut rows = self
            .rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_suspect_only_when_all_its_rows_are() {
        let suspects = Suspects::default();
        assert!(!suspects.all(&[]));
        suspects.add(&[1, 2]);
        assert!(suspects.all(&[1, 2]));
        assert!(!suspects.all(&[1, 3]));
        suspects.forget([1]);
        assert!(!suspects.all(&[1]));
        assert!(suspects.all(&[2]));
    }

    #[test]
    fn strikes_add_up_per_row() {
        let suspects = Suspects::default();
        suspects.add(&[1, 2]);
        assert_eq!(suspects.strike(&[1]), 1);
        assert_eq!(suspects.strike(&[1]), 2);
        assert_eq!(suspects.strike(&[1, 2]), 3, "the most of the part's rows");
        suspects.add(&[1]);
        assert_eq!(
            suspects.strike(&[1]),
            4,
            "a suspect again keeps its strikes"
        );
    }

    #[test]
    fn the_set_stays_bounded() {
        let suspects = Suspects::default();
        for id in 0..10_000 {
            suspects.add(&[id]);
        }
        assert!(suspects.with(|rows| rows.len()) <= MOST);
        assert!(suspects.all(&[9_999]), "the newest is kept");
    }
}
