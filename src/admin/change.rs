//! `retry` and `cancel`, the look: which rows a command would change, and which of them it must
//! not change without a flag saying the person means it (more than one row; a retry that would
//! send a visitor's older value after a newer one; a retry of a row whose own data breaks one of
//! Target's rules). The change itself is in `apply`.

use super::filter::{RowFilter, bind_all};
use super::newer::{Newer, newer_sent};
use crate::adobe::{ProfileUpdate, RowProblem};
use crate::outbox::State;
use sqlx::SqlitePool;

/// What a command does to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A failed row becomes pending, due now, with its attempts reset.
    Retry,
    /// A pending or failed row becomes cancelled: never sent.
    Cancel,
}

impl Change {
    /// The states a row may be in for the change.
    pub fn from_states(self) -> &'static [State] {
        match self {
            Change::Retry => &[State::Failed],
            Change::Cancel => &[State::Pending, State::Failed],
        }
    }

    /// Which rows the change takes, for a person told a row was not changed.
    pub fn takes(self) -> &'static str {
        match self {
            Change::Retry => "only failed rows are retried",
            Change::Cancel => "only pending or failed rows are cancelled",
        }
    }

    /// `retried`, `cancelled`.
    pub fn done(self) -> &'static str {
        match self {
            Change::Retry => "retried",
            Change::Cancel => "cancelled",
        }
    }

    /// `retry`, `cancel`: the command's name.
    pub fn action(self) -> &'static str {
        match self {
            Change::Retry => "retry",
            Change::Cancel => "cancel",
        }
    }
}

/// A flag by which a person allows what a command would otherwise refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// `--yes`: change more than one row.
    Many,
    /// `--even-if-newer-sent`: retry a row although a newer row of its visitor is in flight or
    /// delivered, so its older value reaches Target after the newer one.
    AfterNewer,
    /// `--even-if-invalid`: retry a row whose own data breaks one of Target's rules, though the
    /// daemon will set it aside again at once.
    Invalid,
}

impl Permit {
    pub fn flag(self) -> &'static str {
        match self {
            Permit::Many => "--yes",
            Permit::AfterNewer => "--even-if-newer-sent",
            Permit::Invalid => "--even-if-invalid",
        }
    }
}

/// A row the change applies to, and what the look found about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub state: State,
    /// For a retry: the newest row of the same visitor, newer than this one, that is in flight
    /// or delivered. Retrying would send this row's older value after it.
    pub newer: Option<Newer>,
    /// For a retry: the rule of Target's the row's own data breaks; it would fail again at once.
    pub problem: Option<RowProblem>,
}

/// A row named by id that the change does not apply to, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub id: i64,
    /// `None`: there is no such row.
    pub state: Option<State>,
}

/// What the command lacks to go ahead: the flag, and why it is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub permit: Permit,
    pub why: String,
}

/// The rows a change would touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub change: Change,
    pub rows: Vec<Candidate>,
    pub refused: Vec<Refusal>,
}

impl Plan {
    /// The flags the change needs and `given` lacks, each with the reason; empty: go ahead.
    pub fn needs(&self, given: &[Permit]) -> Vec<Need> {
        let mut needs = Vec::new();
        let lacking = |p: Permit| !given.contains(&p);
        let out_of_order: Vec<String> = self
            .rows
            .iter()
            .filter_map(|c| c.newer.as_ref().map(|n| (c.id, n)))
            .map(|(id, n)| format!("row {id} (row {} is {})", n.id, n.state))
            .collect();
        if lacking(Permit::AfterNewer) && !out_of_order.is_empty() {
            needs.push(Need {
                permit: Permit::AfterNewer,
                why: format!(
                    "a newer row of the same visitor was already delivered or is being sent, so \
                     retrying would send an older value after a newer one, and it could overwrite \
                     the newer value at Target: {}; the usual fix is to cancel the older row",
                    out_of_order.join(", ")
                ),
            });
        }
        let invalid: Vec<String> = self
            .rows
            .iter()
            .filter_map(|c| c.problem.as_ref().map(|p| format!("row {}: {p}", c.id)))
            .collect();
        if lacking(Permit::Invalid) && !invalid.is_empty() {
            needs.push(Need {
                permit: Permit::Invalid,
                why: format!(
                    "the row's own data breaks Target's rules, so the daemon would set it aside \
                     again at once ({}); have the producer write a corrected row, and cancel this \
                     one",
                    invalid.join("; ")
                ),
            });
        }
        if lacking(Permit::Many) && self.rows.len() > 1 {
            needs.push(Need {
                permit: Permit::Many,
                why: format!("{} rows match", self.rows.len()),
            });
        }
        needs
    }

    pub fn ids(&self) -> Vec<i64> {
        self.rows.iter().map(|c| c.id).collect()
    }
}

/// Finds the rows `change` applies to among those `filter` takes. `filter.states` must be empty or
/// within `change.from_states()`.
pub async fn plan(pool: &SqlitePool, change: Change, filter: &RowFilter) -> sqlx::Result<Plan> {
    let mut eligible = filter.clone();
    if eligible.states.is_empty() {
        eligible.states = change.from_states().to_vec();
    }
    eligible.states.retain(|s| change.from_states().contains(s));
    let (clause, values) = eligible.clause();
    // Producer columns as bytes and the visitor key as hex: a column stored as a BLOB before
    // migration 0005 can hold bytes that are not UTF-8, which would not decode as a String.
    let sql = format!(
        "SELECT id, state, hex(visitor), CAST(mbox_pc AS BLOB), CAST(mbox_3rd_party_id AS BLOB), \
         CAST(attributes AS BLOB) FROM outbox {clause} ORDER BY id"
    );
    let found: Vec<Found> = bind_all(sqlx::query_as(&sql), &values)
        .fetch_all(pool)
        .await?;
    let newer = match change {
        Change::Retry => {
            let rows: Vec<(i64, &str)> = found.iter().map(|f| (f.0, f.2.as_str())).collect();
            newer_sent(pool, &rows).await?
        }
        Change::Cancel => Default::default(),
    };
    let rows = found
        .iter()
        .filter_map(|f| {
            Some(Candidate {
                id: f.0,
                state: State::parse(&f.1)?,
                newer: newer.get(&f.2).filter(|n| n.id > f.0).cloned(),
                problem: (change == Change::Retry)
                    .then(|| {
                        let text = |b: &Option<Vec<u8>>| {
                            b.as_deref()
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                        };
                        let attributes = String::from_utf8_lossy(&f.5);
                        ProfileUpdate::from_row(
                            text(&f.3).as_deref(),
                            text(&f.4).as_deref(),
                            &attributes,
                        )
                        .err()
                    })
                    .flatten(),
            })
        })
        .collect::<Vec<_>>();
    let refused = refusals(pool, &filter.ids, &rows).await?;
    Ok(Plan {
        change,
        rows,
        refused,
    })
}

/// id, state, visitor, mbox_pc, mbox_3rd_party_id, attributes.
/// id, state, the visitor key as hex, and the producer columns' bytes.
type Found = (
    i64,
    String,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<u8>,
);

/// The ids asked for by name that are not among `rows`, with their state.
async fn refusals(
    pool: &SqlitePool,
    ids: &[i64],
    rows: &[Candidate],
) -> sqlx::Result<Vec<Refusal>> {
    let mut refused = Vec::new();
    for id in ids.iter().filter(|id| !rows.iter().any(|c| c.id == **id)) {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = ?")
            .bind(id)
            .fetch_optional(pool)
            .await?;
        refused.push(Refusal {
            id: *id,
            state: state.as_deref().and_then(State::parse),
        });
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64) -> Candidate {
        Candidate {
            id,
            state: State::Failed,
            newer: None,
            problem: None,
        }
    }

    fn plan(rows: Vec<Candidate>) -> Plan {
        Plan {
            change: Change::Retry,
            rows,
            refused: Vec::new(),
        }
    }

    #[test]
    fn one_plain_row_needs_no_flag_and_two_need_yes() {
        assert!(plan(vec![candidate(1)]).needs(&[]).is_empty());
        let two = plan(vec![candidate(1), candidate(2)]);
        let needs = two.needs(&[]);
        assert_eq!(needs.len(), 1);
        assert_eq!(needs[0].permit, Permit::Many);
        assert!(two.needs(&[Permit::Many]).is_empty());
    }

    #[test]
    fn a_retry_after_a_newer_row_went_out_needs_its_own_flag_and_names_that_row() {
        let mut row = candidate(5);
        row.newer = Some(Newer {
            id: 9,
            state: State::InFlight,
        });
        let p = plan(vec![row]);
        let needs = p.needs(&[Permit::Many]);
        assert_eq!(needs.len(), 1);
        assert_eq!(needs[0].permit, Permit::AfterNewer);
        assert!(
            needs[0].why.contains("row 5 (row 9 is in_flight)"),
            "{}",
            needs[0].why
        );
        assert!(p.needs(&[Permit::AfterNewer]).is_empty());
    }

    #[test]
    fn a_retry_of_a_row_breaking_a_rule_needs_its_own_flag_and_names_the_rule() {
        let mut row = candidate(7);
        row.problem = Some(RowProblem::new(
            "mbox_pc",
            "looks like an Experience Cloud ID",
        ));
        let needs = plan(vec![row]).needs(&[]);
        assert_eq!(needs.len(), 1);
        assert_eq!(needs[0].permit, Permit::Invalid);
        assert!(
            needs[0]
                .why
                .contains("row 7: mbox_pc: looks like an Experience Cloud ID"),
            "{}",
            needs[0].why
        );
    }
}
