//! `purge`: deletes delivered and cancelled rows added before a cut-off, a batch at a time.
//!
//! Each batch is one DELETE statement, so the write lock is held briefly and producers and the
//! daemon go on between batches. The state condition is in the DELETE itself: a row still to be
//! sent (pending, in flight, failed) is never deleted, nor a delivered row newer than a failed row
//! of its visitor (`outbox::KEPT_FOR_ORDER`: it is what stops `retry` from sending the older value
//! over it).

use super::filter::{RowFilter, bind_all};
use crate::outbox::{KEPT_FOR_ORDER, State};
use sqlx::SqlitePool;

/// Rows deleted per statement.
const BATCH: u64 = 2_000;

/// Which rows a purge takes: states within delivered and cancelled, added before `before_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeScope {
    pub states: Vec<State>,
    /// Wall-clock ms; rows with `created_at` before it.
    pub before_ms: i64,
}

impl PurgeScope {
    /// The states a purge may delete.
    pub const STATES: [State; 2] = [State::Delivered, State::Cancelled];

    fn filter(&self) -> RowFilter {
        let mut states = self.states.clone();
        states.retain(|s| Self::STATES.contains(s));
        if states.is_empty() {
            states = Self::STATES.to_vec();
        }
        RowFilter {
            states,
            created_before_ms: Some(self.before_ms),
            ..RowFilter::default()
        }
    }
}

/// How many rows the purge would delete now.
pub async fn count_purgeable(pool: &SqlitePool, scope: &PurgeScope) -> sqlx::Result<u64> {
    let (clause, values) = scope.filter().clause();
    let sql = format!("SELECT count(*) FROM outbox {clause} AND NOT {KEPT_FOR_ORDER}");
    let (count,): (i64,) = bind_all(sqlx::query_as(&sql), &values)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Deletes up to `at_most` rows of the scope (every one when `None`), oldest first, and returns
/// how many it deleted.
pub async fn purge(
    pool: &SqlitePool,
    scope: &PurgeScope,
    at_most: Option<u64>,
) -> sqlx::Result<u64> {
    let (clause, values) = scope.filter().clause();
    let sql = format!(
        "DELETE FROM outbox WHERE id IN
             (SELECT id FROM outbox {clause} AND NOT {KEPT_FOR_ORDER} AND id > ? ORDER BY id LIMIT ?)
         RETURNING id"
    );
    let mut deleted: u64 = 0;
    let mut after: i64 = 0;
    loop {
        let take = at_most.map_or(BATCH, |n| n.saturating_sub(deleted).min(BATCH));
        if take == 0 {
            return Ok(deleted);
        }
        let ids: Vec<(i64,)> = bind_all(sqlx::query_as(&sql), &values)
            .bind(after)
            .bind(i64::try_from(take).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
        deleted += ids.len() as u64;
        if (ids.len() as u64) < take {
            return Ok(deleted);
        }
        after = ids.iter().map(|(id,)| *id).max().unwrap_or(after);
    }
}
