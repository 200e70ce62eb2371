//! The daemon's visible state: one row in `daemon_state`, written by the running daemon after
//! every round and read by operators (and by the next run, for the timeline's anchor).

use crate::clock::{Anchor, Timeline};
use sqlx::{Row, SqliteConnection, SqlitePool};

/// What the daemon reports about itself. Times are wall-clock milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub quota_limit: i64,
    pub calls_in_window: i64,
    pub next_call_at: Option<i64>,
    pub pause_reason: Option<&'static str>,
    pub paused_until: Option<i64>,
    pub circuit: &'static str,
    /// Set when this round delivered something.
    pub delivered_at: Option<i64>,
    /// Set when this round met an error worth showing.
    pub error: Option<String>,
}

/// The anchor the last run saved, if any.
pub async fn saved_anchor(pool: &SqlitePool) -> sqlx::Result<Option<Anchor>> {
    let row =
        sqlx::query("SELECT timeline_ms, wall_ms, boot_id, boot_ms FROM daemon_state WHERE id = 1")
            .fetch_optional(pool)
            .await?;
    row.map(|r| {
        Ok(Anchor {
            timeline_ms: r.try_get(0)?,
            wall_ms: r.try_get(1)?,
            boot_id: r.try_get(2)?,
            boot_ms: r.try_get(3)?,
        })
    })
    .transpose()
}

/// The end of a slow-down pause the last run was keeping (Target's `Retry-After`, or its own
/// pause after a 429 or 503), on the timeline, so a restart does not cut it short.
pub async fn saved_slow_down(pool: &SqlitePool) -> sqlx::Result<Option<i64>> {
    // paused_until and wall_ms were written together, so their difference is the pause left then.
    sqlx::query_scalar(
        "SELECT timeline_ms + (paused_until - wall_ms) FROM daemon_state
         WHERE id = 1 AND pause_reason = 'slow_down' AND paused_until IS NOT NULL",
    )
    .fetch_optional(pool)
    .await
}

/// Records that a daemon with this pid started now.
pub async fn started(pool: &SqlitePool, timeline: &Timeline) -> sqlx::Result<()> {
    let anchor = timeline.anchor();
    sqlx::query(
        "INSERT INTO daemon_state (id, timeline_ms, wall_ms, boot_id, boot_ms, pid, started_at, heartbeat_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?2, ?2)
         ON CONFLICT (id) DO UPDATE SET timeline_ms = ?1, wall_ms = ?2, boot_id = ?3, boot_ms = ?4,
             pid = ?5, started_at = ?2, heartbeat_at = ?2, pause_reason = NULL, paused_until = NULL,
             circuit = 'closed'",
    )
    .bind(anchor.timeline_ms)
    .bind(anchor.wall_ms)
    .bind(&anchor.boot_id)
    .bind(anchor.boot_ms)
    .bind(i64::from(std::process::id()))
    .execute(pool)
    .await
    .map(|_| ())
}

/// Saves the anchor, a heartbeat and the snapshot, inside the caller's transaction.
pub async fn save(
    conn: &mut SqliteConnection,
    anchor: &Anchor,
    snapshot: &Snapshot,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE daemon_state SET timeline_ms = ?1, wall_ms = ?2, boot_id = ?3, boot_ms = ?4,
             heartbeat_at = ?2, quota_limit = ?5, calls_in_window = ?6, next_call_at = ?7,
             pause_reason = ?8, paused_until = ?9, circuit = ?10,
             last_delivery_at = coalesce(?11, last_delivery_at),
             last_error = coalesce(?12, last_error),
             last_error_at = CASE WHEN ?12 IS NULL THEN last_error_at ELSE ?2 END
         WHERE id = 1",
    )
    .bind(anchor.timeline_ms)
    .bind(anchor.wall_ms)
    .bind(&anchor.boot_id)
    .bind(anchor.boot_ms)
    .bind(snapshot.quota_limit)
    .bind(snapshot.calls_in_window)
    .bind(snapshot.next_call_at)
    .bind(snapshot.pause_reason)
    .bind(snapshot.paused_until)
    .bind(snapshot.circuit)
    .bind(snapshot.delivered_at)
    .bind(&snapshot.error)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Marks the daemon as stopped (no pid), so a reader can tell a clean stop from a crash.
pub async fn stopped(pool: &SqlitePool) -> sqlx::Result<()> {
    sqlx::query("UPDATE daemon_state SET pid = NULL WHERE id = 1")
        .execute(pool)
        .await
        .map(|_| ())
}
