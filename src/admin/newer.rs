//! Newer rows of a visitor that already went out (in flight or delivered). A retried older row
//! would reach Target after them, so `retry` refuses it unless told otherwise, and the UPDATE
//! itself repeats the condition ([`SENT`], [`NOT_OVERTAKEN`]) so a row the daemon sends between
//! the look and the change still counts.

use crate::outbox::State;
use sqlx::SqlitePool;
use std::collections::HashMap;

/// The statement's prefix for [`NOT_OVERTAKEN`]: for each visitor of the rows named in `?2` (a
/// JSON array of ids), its newest row in flight or delivered among the rows added after the
/// oldest of them. Materialized, so the rows added since are read once for the whole statement;
/// a correlated `NOT EXISTS (SELECT 1 FROM outbox n WHERE n.visitor = outbox.visitor AND n.id >
/// outbox.id AND …)` read them once per retried row (delivered rows have no index by visitor),
/// holding the write lock for minutes on a large outbox.
pub const SENT: &str = "WITH sent AS MATERIALIZED (
        SELECT visitor, max(id) AS newest FROM outbox
        WHERE id > (SELECT min(value) FROM json_each(?2))
          AND state IN ('in_flight', 'delivered')
          AND visitor IN (SELECT visitor FROM outbox
                          WHERE id IN (SELECT value FROM json_each(?2)))
        GROUP BY visitor)";

/// The condition, inside the UPDATE of `outbox` (after [`SENT`]), that no newer row of the same
/// visitor is in flight or delivered. Checked by the statement itself, under the write lock, so
/// it holds against a daemon claiming or recording at the same moment.
pub const NOT_OVERTAKEN: &str = "NOT EXISTS (SELECT 1 FROM sent
        WHERE sent.visitor = outbox.visitor AND sent.newest > outbox.id)";

/// A newer row of the same visitor that went out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Newer {
    pub id: i64,
    /// `in_flight` or `delivered`.
    pub state: State,
}

/// For each visitor of `rows` (id, visitor), the newest row in flight or delivered among those
/// added after the oldest of `rows`. One pass over the rows added since (delivered rows have no
/// index by visitor).
pub async fn newer_sent(
    pool: &SqlitePool,
    rows: &[(i64, &str)],
) -> sqlx::Result<HashMap<String, Newer>> {
    let Some(oldest) = rows.iter().map(|(id, _)| *id).min() else {
        return Ok(HashMap::new());
    };
    let visitors: Vec<&str> = rows.iter().map(|(_, v)| *v).collect();
    let visitors = serde_json::to_string(&visitors).map_err(|e| sqlx::Error::Encode(e.into()))?;
    // With max(), SQLite takes the bare column `state` from the row holding the maximum.
    // Visitor keys as hex, as `change::plan` reads them (a key made from a BLOB may not be UTF-8).
    let latest: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT hex(visitor), max(id), state FROM outbox
         WHERE id > ?1 AND state IN ('in_flight', 'delivered')
           AND hex(visitor) IN (SELECT value FROM json_each(?2))
         GROUP BY visitor",
    )
    .bind(oldest)
    .bind(visitors)
    .fetch_all(pool)
    .await?;
    Ok(latest
        .into_iter()
        .filter_map(|(visitor, id, state)| {
            Some((
                visitor,
                Newer {
                    id,
                    state: State::parse(&state)?,
                },
            ))
        })
        .collect())
}
