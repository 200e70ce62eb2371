//! The figures `/metrics` reads from the database at each scrape, in one short read transaction:
//! rows per state and the oldest row not finished, from the queue's one source of figures
//! (`outbox::figures`, which costs the same at any size of table), and the quota and the delivery
//! loop's heartbeat from the daemon's one-row visible state.

use crate::outbox::{State, figures};
use sqlx::{Row, SqlitePool};

/// What a scrape read from the database.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readings {
    /// (state, rows) in `State::ALL` order.
    pub rows: Vec<(&'static str, i64)>,
    /// Age of the oldest row pending or in flight; 0 when there is none.
    pub oldest_pending_seconds: f64,
    pub quota_used: i64,
    pub quota_left: i64,
    /// Seconds since the delivery loop last saved its heartbeat; none before it first did.
    pub heartbeat_age_seconds: Option<f64>,
}

/// Reads the figures at `now_ms` (wall clock).
pub async fn read(pool: &SqlitePool, now_ms: i64) -> sqlx::Result<Readings> {
    let mut tx = pool.begin().await?;
    let counts = figures::counts(&mut tx).await?;
    let oldest = figures::oldest_waiting(&mut tx).await?;
    let quota = sqlx::query(
        "SELECT coalesce(calls_in_window, 0), coalesce(quota_limit, 0), heartbeat_at
         FROM daemon_state WHERE id = 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let (used, limit, heartbeat): (i64, i64, Option<i64>) = match quota {
        Some(row) => (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
        None => (0, 0, None),
    };
    Ok(Readings {
        rows: State::ALL
            .iter()
            .map(|state| (state.as_str(), counts.of(state.as_str())))
            .collect(),
        oldest_pending_seconds: oldest.map_or(0.0, |(_, created)| {
            (now_ms - created).max(0) as f64 / 1000.0
        }),
        quota_used: used,
        quota_left: (limit - used).max(0),
        heartbeat_age_seconds: heartbeat.map(|at| (now_ms - at).max(0) as f64 / 1000.0),
    })
}
