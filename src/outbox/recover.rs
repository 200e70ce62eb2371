//! Start-up recovery: rows a crash left `in_flight` go back to pending.
//!
//! The daemon cannot know whether Target received them, so they are sent again: delivery is
//! at-least-once. Target keeps the last value it receives, so a repeat of the same update is
//! harmless. Only the daemon holding the instance lock calls this, so no live claim is undone.

use sqlx::SqlitePool;

/// Makes every `in_flight` row pending and due at once; returns how many there were.
pub async fn release_in_flight(pool: &SqlitePool, now_ms: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE outbox INDEXED BY outbox_in_flight SET state = 'pending', updated_at = ?1
         WHERE state = 'in_flight'",
    )
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|done| done.rows_affected())
}
