//! `retry` and `cancel`, the change: one UPDATE statement that names the planned rows by id *and*
//! repeats every condition, so a row the daemon claimed in between (now `in_flight`), a row whose
//! visitor's newer row went out in between (for a retry), or a row changed otherwise is left
//! alone. An admin command never touches a row in flight, and never changes more rows than it
//! found and reported.

use super::change::{Change, Plan};
use super::filter::{RowFilter, bind_all, json_array};
use super::newer::{NOT_OVERTAKEN, Newer, SENT, newer_sent};
use crate::outbox::State;
use sqlx::SqlitePool;

/// Whether a retry keeps a visitor's order: the default, unless `--even-if-newer-sent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderGuard {
    /// Leave a row alone when a newer row of its visitor is in flight or delivered.
    Keep,
    /// Retry it anyway: the operator accepts that its older value goes out after the newer one.
    Waive,
}

/// What the change did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub changed: Vec<i64>,
    /// Planned rows still failed but left alone: a newer row of the visitor went out between the
    /// look and the change.
    pub overtaken: Vec<(i64, Newer)>,
    /// Planned rows that changed state before the change reached them (the daemon took them).
    pub left_alone: Vec<i64>,
}

/// Changes the plan's rows that still qualify. `now_ms` is on the daemon's timeline
/// (`updated_at`).
pub async fn apply(
    pool: &SqlitePool,
    plan: &Plan,
    now_ms: i64,
    guard: OrderGuard,
) -> sqlx::Result<Applied> {
    if plan.rows.is_empty() {
        return Ok(Applied::default());
    }
    let ids = plan.ids();
    let sql = match (plan.change, guard) {
        (Change::Retry, OrderGuard::Keep) => {
            format!("{SENT} {RETRY} AND {NOT_OVERTAKEN} RETURNING id")
        }
        (Change::Retry, OrderGuard::Waive) => format!("{RETRY} RETURNING id"),
        (Change::Cancel, _) => format!("{CANCEL} RETURNING id"),
    };
    let mut changed: Vec<i64> = sqlx::query_scalar(&sql)
        .bind(now_ms)
        .bind(json_array(&ids))
        .fetch_all(pool)
        .await?;
    changed.sort_unstable();
    if plan.change == Change::Retry && !changed.is_empty() {
        forget_missing_profiles(pool, &changed).await?;
    }
    let missed: Vec<i64> = ids.into_iter().filter(|id| !changed.contains(id)).collect();
    let (overtaken, left_alone) = why_missed(pool, plan.change, &missed).await?;
    Ok(Applied {
        changed,
        overtaken,
        left_alone,
    })
}

/// A retried row whose visitor Target had no profile for is looked up again, and waits the whole
/// `target.profile_wait` again if there is still none.
async fn forget_missing_profiles(pool: &SqlitePool, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM missing_profiles WHERE visitor IN (
             SELECT visitor FROM outbox WHERE id IN (SELECT value FROM json_each(?1)))",
    )
    .bind(json_array(ids))
    .execute(pool)
    .await
    .map(|_| ())
}

// Due at once (next_attempt_at 0 is before any time), attempts and the send-alone flag reset; the
// old error stays readable behind a note.
const RETRY: &str = "UPDATE outbox SET state = 'pending', attempts = 0, send_alone = 0,
         next_attempt_at = 0, updated_at = ?1,
         last_error = 'retried by an operator; before: ' || coalesce(last_error, 'no error')
     WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'failed'";

const CANCEL: &str = "UPDATE outbox SET state = 'cancelled', updated_at = ?1
     WHERE id IN (SELECT value FROM json_each(?2)) AND state IN ('pending', 'failed')";

/// Sorts the planned rows the UPDATE did not change: still in a state the change takes (so a
/// newer row of the visitor went out first), or changed by someone else.
async fn why_missed(
    pool: &SqlitePool,
    change: Change,
    missed: &[i64],
) -> sqlx::Result<(Vec<(i64, Newer)>, Vec<i64>)> {
    if missed.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let now: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, state, hex(visitor) FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(json_array(missed))
    .fetch_all(pool)
    .await?;
    let still: Vec<(i64, &str)> = now
        .iter()
        .filter(|(_, state, _)| {
            State::parse(state).is_some_and(|s| change.from_states().contains(&s))
        })
        .map(|(id, _, visitor)| (*id, visitor.as_str()))
        .collect();
    let newer = newer_sent(pool, &still).await?;
    let mut overtaken = Vec::new();
    for (id, visitor) in &still {
        if let Some(n) = newer.get(*visitor).filter(|n| n.id > *id) {
            overtaken.push((*id, n.clone()));
        }
    }
    let left_alone = missed
        .iter()
        .copied()
        .filter(|id| !overtaken.iter().any(|(o, _)| o == id))
        .collect();
    Ok((overtaken, left_alone))
}

/// The rows `filter` takes (ignoring its states) that are in flight now: a cancel leaves them to
/// the daemon, which delivers them or hands them back.
pub async fn in_flight_matching(pool: &SqlitePool, filter: &RowFilter) -> sqlx::Result<Vec<i64>> {
    let flying = RowFilter {
        states: vec![State::InFlight],
        ..filter.clone()
    };
    let (clause, values) = flying.clause();
    let sql = format!("SELECT id FROM outbox {clause} ORDER BY id");
    let ids: Vec<(i64,)> = bind_all(sqlx::query_as(&sql), &values)
        .fetch_all(pool)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}
