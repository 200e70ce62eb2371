//! `retry` and `cancel`: find the rows a command would change, then change exactly those rows in
//! one UPDATE statement.
//!
//! The UPDATE names the rows by id *and* repeats the state condition, so a row the daemon claimed
//! in between (now `in_flight`) or that changed otherwise is left alone: an admin command never
//! touches a row in flight, and never changes more rows than it found and reported.

use super::filter::{RowFilter, bind_all, json_array};
use crate::outbox::State;
use sqlx::SqlitePool;
use std::collections::HashMap;

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
}

/// A row the change applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub state: State,
    /// For a retry: newer rows of the same visitor were delivered (the latest one's id), so the
    /// retried row would reach Target after them.
    pub newer_delivered: Option<i64>,
}

/// A row named by id that the change does not apply to, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub id: i64,
    /// `None`: there is no such row.
    pub state: Option<State>,
}

/// The rows a change would touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub change: Change,
    pub rows: Vec<Candidate>,
    pub refused: Vec<Refusal>,
}

impl Plan {
    /// Why the change needs `--yes`, if it does: more than one row, or a retry out of order.
    pub fn needs_confirmation(&self) -> Option<String> {
        let out_of_order: Vec<String> = self
            .rows
            .iter()
            .filter_map(|c| {
                c.newer_delivered
                    .map(|n| format!("row {} (after row {n})", c.id))
            })
            .collect();
        if !out_of_order.is_empty() {
            return Some(format!(
                "newer rows of the same visitor were already delivered, so retrying would send an \
                 older value after a newer one: {}",
                out_of_order.join(", ")
            ));
        }
        (self.rows.len() > 1).then(|| format!("{} rows match", self.rows.len()))
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
    // The visitor key as hex: a producer column stored as a BLOB before migration 0005 can make
    // it text that is not UTF-8, which would not decode as a String.
    let sql = format!("SELECT id, state, hex(visitor) FROM outbox {clause} ORDER BY id");
    let found: Vec<(i64, String, String)> = bind_all(sqlx::query_as(&sql), &values)
        .fetch_all(pool)
        .await?;
    let newer = match change {
        Change::Retry => newer_delivered(pool, &found).await?,
        Change::Cancel => HashMap::new(),
    };
    let rows = found
        .iter()
        .filter_map(|(id, state, visitor)| {
            Some(Candidate {
                id: *id,
                state: State::parse(state)?,
                newer_delivered: newer.get(visitor).copied().filter(|latest| latest > id),
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

/// The latest delivered row of each of the rows' visitors, among rows newer than the oldest of
/// them: one pass over the rows added since (delivered rows have no index by visitor).
async fn newer_delivered(
    pool: &SqlitePool,
    rows: &[(i64, String, String)],
) -> sqlx::Result<HashMap<String, i64>> {
    let Some(oldest) = rows.iter().map(|(id, _, _)| *id).min() else {
        return Ok(HashMap::new());
    };
    let visitors: Vec<&str> = rows.iter().map(|(_, _, v)| v.as_str()).collect();
    let visitors = serde_json::to_string(&visitors).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let latest: Vec<(String, i64)> = sqlx::query_as(
        "SELECT hex(visitor), max(id) FROM outbox
         WHERE id > ?1 AND state = 'delivered'
           AND hex(visitor) IN (SELECT value FROM json_each(?2))
         GROUP BY visitor",
    )
    .bind(oldest)
    .bind(visitors)
    .fetch_all(pool)
    .await?;
    Ok(latest.into_iter().collect())
}

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

/// Changes the plan's rows that are still in a state the change applies to, and returns their ids.
/// `now_ms` is on the daemon's timeline (`updated_at`).
pub async fn apply(pool: &SqlitePool, plan: &Plan, now_ms: i64) -> sqlx::Result<Vec<i64>> {
    if plan.rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = plan.rows.iter().map(|c| c.id).collect();
    let sql = match plan.change {
        // Due at once (next_attempt_at 0 is before any time), attempts and the send-alone flag
        // reset; the old error stays readable behind a note.
        Change::Retry => {
            "UPDATE outbox SET state = 'pending', attempts = 0, send_alone = 0,
                 next_attempt_at = 0, updated_at = ?1,
                 last_error = 'retried by an operator; before: ' || coalesce(last_error, 'no error')
             WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'failed'
             RETURNING id"
        }
        Change::Cancel => {
            "UPDATE outbox SET state = 'cancelled', updated_at = ?1
             WHERE id IN (SELECT value FROM json_each(?2)) AND state IN ('pending', 'failed')
             RETURNING id"
        }
    };
    let mut changed: Vec<i64> = sqlx::query_scalar(sql)
        .bind(now_ms)
        .bind(json_array(&ids))
        .fetch_all(pool)
        .await?;
    changed.sort_unstable();
    Ok(changed)
}
