//! Deletes delivered and cancelled rows older than `database.retention`, a chunk at a time so
//! producers never wait long for the write lock, and old remembered profile lookups; then
//! checkpoints the WAL so it stays small. Failed rows are kept until an operator acts on them, and
//! so is a delivered row newer than a failed row of its visitor (`outbox::KEPT_FOR_ORDER`).

use crate::clock::{Timeline, millis};
use crate::outbox::KEPT_FOR_ORDER;
use sqlx::SqlitePool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows deleted per transaction.
const CHUNK: i64 = 5_000;
/// How often housekeeping runs.
const EVERY: Duration = Duration::from_secs(600);

/// Deletes finished rows last changed more than `retention` ago; returns how many.
pub async fn prune(pool: &SqlitePool, now_ms: i64, retention: Duration) -> sqlx::Result<u64> {
    let cutoff = now_ms.saturating_sub(millis(retention));
    let mut total = 0;
    loop {
        let sql = format!(
            "DELETE FROM outbox WHERE id IN (
                 SELECT id FROM outbox
                 WHERE state IN ('delivered', 'cancelled') AND updated_at < ?1
                   AND NOT {KEPT_FOR_ORDER}
                 LIMIT ?2)"
        );
        let deleted = sqlx::query(&sql)
            .bind(cutoff)
            .bind(CHUNK)
            .execute(pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < u64::try_from(CHUNK).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

/// Moves the WAL's content into the database and truncates the WAL file.
pub async fn checkpoint(pool: &SqlitePool) -> sqlx::Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .map(|_| ())
}

/// Prunes and checkpoints now and every ten minutes until `stop` is cancelled.
pub async fn run(
    pool: SqlitePool,
    timeline: Timeline,
    retention: Duration,
    stop: CancellationToken,
) {
    loop {
        match prune(&pool, timeline.now_ms(), retention).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(
                rows,
                "pruned delivered and cancelled rows past database.retention"
            ),
            Err(e) => tracing::error!(error = %e, "cannot prune old rows"),
        }
        // Profile lookups are remembered for 14 days; a visitor's missing record as long as
        // finished rows are kept.
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = crate::outbox::profiles::prune(&pool, timeline.now_ms(), retention_ms).await
        {
            tracing::error!(error = %e, "cannot prune remembered profile lookups");
        }
        if let Err(e) = checkpoint(&pool).await {
            tracing::warn!(error = %e, "cannot checkpoint the WAL; it will be tried again");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
