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

use crate::adobe::Outcome;
use std::collections::HashMap;
use std::sync::Mutex;

/// How a suspect's request failed: the kind of answer and its status. Only the same failure
/// again is a strike; another (a refused token after an outage, say) is news about Target, which
/// the gate must hear: it may be everyone's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    unauthorized: bool,
    status: Option<u16>,
}

impl Failure {
    pub fn of(outcome: &Outcome) -> Failure {
        Failure {
            unauthorized: matches!(outcome, Outcome::Unauthorized { .. }),
            status: outcome.status(),
        }
    }
}

/// A suspect row: its strikes so far and how its request failed.
#[derive(Clone, Copy, Debug)]
struct Suspect {
    strikes: u32,
    failure: Failure,
}

/// Strikes in a row that fail a row.
pub const STRIKES_TO_FAIL: u32 = 12;

/// More suspects than this are not remembered: the oldest pauses are long past by then.
const MOST: usize = 4_096;

/// Suspect row ids, their strikes so far and how their request failed.
#[derive(Debug, Default)]
pub struct Suspects {
    rows: Mutex<HashMap<i64, Suspect>>,
}

impl Suspects {
    /// How the request of `ids` failed, when every one of them (at least one) is a suspect that
    /// failed the same way.
    pub fn failure(&self, ids: &[i64]) -> Option<Failure> {
        self.with(|rows| {
            let mut failures = ids.iter().map(|id| rows.get(id).map(|s| s.failure));
            let first = failures.next()??;
            failures.all(|f| f == Some(first)).then_some(first)
        })
    }

    /// Makes `ids` suspects that failed as `failure` says, keeping any strikes they have.
    pub fn add(&self, ids: &[i64], failure: Failure) {
        self.with(|rows| {
            if rows.len() + ids.len() > MOST {
                rows.clear();
            }
            for id in ids {
                rows.entry(*id)
                    .and_modify(|s| s.failure = failure)
                    .or_insert(Suspect {
                        strikes: 0,
                        failure,
                    });
            }
        });
    }

    /// One more strike for each of `ids`; returns the most any of them has now.
    pub fn strike(&self, ids: &[i64]) -> u32 {
        self.with(|rows| {
            let mut most = 0;
            for id in ids {
                if let Some(suspect) = rows.get_mut(id) {
                    suspect.strikes = suspect.strikes.saturating_add(1);
                    most = most.max(suspect.strikes);
                }
            }
            most
        })
    }

    /// Keeps `ids` suspects but with no strikes: the strikes a combined update earned are not
    /// any one of its rows' own, and each starts afresh once the update is split.
    pub fn afresh(&self, ids: impl IntoIterator<Item = i64>) {
        self.with(|rows| {
            for id in ids {
                if let Some(suspect) = rows.get_mut(&id) {
                    suspect.strikes = 0;
                }
            }
        });
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

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<i64, Suspect>) -> T) -> T {
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

    fn down(status: u16) -> Failure {
        Failure::of(&Outcome::EndpointDown {
            status: Some(status),
            reason: "down".into(),
        })
    }

    fn refused_token() -> Failure {
        Failure::of(&Outcome::Unauthorized { status: 401 })
    }

    #[test]
    fn a_part_is_suspect_only_when_all_its_rows_are_and_failed_the_same_way() {
        let suspects = Suspects::default();
        assert_eq!(suspects.failure(&[]), None);
        suspects.add(&[1, 2], down(500));
        assert_eq!(suspects.failure(&[1, 2]), Some(down(500)));
        assert_eq!(suspects.failure(&[1, 3]), None);
        suspects.add(&[3], refused_token());
        assert_eq!(suspects.failure(&[2, 3]), None, "two different failures");
        suspects.forget([1]);
        assert_eq!(suspects.failure(&[1]), None);
        assert_eq!(suspects.failure(&[2]), Some(down(500)));
    }

    #[test]
    fn strikes_add_up_per_row_and_start_afresh_after_a_split() {
        let suspects = Suspects::default();
        suspects.add(&[1, 2], down(500));
        assert_eq!(suspects.strike(&[1]), 1);
        assert_eq!(suspects.strike(&[1]), 2);
        assert_eq!(suspects.strike(&[1, 2]), 3, "the most of the part's rows");
        suspects.add(&[1], refused_token());
        assert_eq!(
            suspects.strike(&[1]),
            4,
            "a suspect again keeps its strikes"
        );
        assert_eq!(suspects.failure(&[1]), Some(refused_token()));
        suspects.afresh([1, 2]);
        assert!(suspects.failure(&[2]).is_some(), "still a suspect");
        assert_eq!(suspects.strike(&[2]), 1, "strikes start again");
        assert_eq!(
            suspects.strike(&[9]),
            0,
            "no strike for a row not suspected"
        );
    }

    #[test]
    fn the_set_stays_bounded() {
        let suspects = Suspects::default();
        for id in 0..10_000 {
            suspects.add(&[id], down(500));
        }
        assert!(suspects.with(|rows| rows.len()) <= MOST);
        assert!(suspects.failure(&[9_999]).is_some(), "the newest is kept");
    }
}
