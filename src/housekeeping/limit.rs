//! The optional cap on waiting rows: past `database.max_pending_rows` rows pending or in flight, a
//! producer's INSERT fails with "outbox full" instead of filling the disk.
//!
//! Counting waiting rows on every insert would cost producers a scan, so a counter row is kept by
//! triggers instead. They exist only while a cap is configured; with none, producers pay nothing.

use sqlx::SqlitePool;

const DROP: [&str; 4] = [
    "DROP TRIGGER IF EXISTS outbox_refuses_rows_when_full",
    "DROP TRIGGER IF EXISTS outbox_limit_counts_inserts",
    "DROP TRIGGER IF EXISTS outbox_limit_counts_state_changes",
    "DROP TRIGGER IF EXISTS outbox_limit_counts_deletes",
];

const CREATE: [&str; 4] = [
    "CREATE TRIGGER outbox_refuses_rows_when_full BEFORE INSERT ON outbox
     WHEN (SELECT pending_rows >= max_pending_rows FROM outbox_limit WHERE id = 1)
     BEGIN
         SELECT RAISE(ABORT, 'outbox full: database.max_pending_rows rows are waiting to be delivered; the daemon is behind or cannot reach Target (see profile-outbox status)');
     END",
    "CREATE TRIGGER outbox_limit_counts_inserts AFTER INSERT ON outbox
     WHEN NEW.state IN ('pending', 'in_flight')
     BEGIN
         UPDATE outbox_limit SET pending_rows = pending_rows + 1 WHERE id = 1;
     END",
    "CREATE TRIGGER outbox_limit_counts_state_changes AFTER UPDATE OF state ON outbox
     WHEN (OLD.state IN ('pending', 'in_flight')) <> (NEW.state IN ('pending', 'in_flight'))
     BEGIN
         UPDATE outbox_limit
         SET pending_rows = pending_rows + CASE WHEN NEW.state IN ('pending', 'in_flight') THEN 1 ELSE -1 END
         WHERE id = 1;
     END",
    "CREATE TRIGGER outbox_limit_counts_deletes AFTER DELETE ON outbox
     WHEN OLD.state IN ('pending', 'in_flight')
     BEGIN
         UPDATE outbox_limit SET pending_rows = pending_rows - 1 WHERE id = 1;
     END",
];

/// Installs the cap (`Some`) with a fresh count, or removes it (`None`). One transaction, so
/// producers never see a half-installed cap.
pub async fn apply_pending_limit(pool: &SqlitePool, max: Option<u64>) -> sqlx::Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for statement in DROP {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    let max = max.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
    sqlx::query(
        "UPDATE outbox_limit SET max_pending_rows = ?1,
             pending_rows = (SELECT count(*) FROM outbox INDEXED BY outbox_visitor_unfinished
                             WHERE state IN ('pending', 'in_flight'))
         WHERE id = 1",
    )
    .bind(max)
    .execute(&mut *tx)
    .await?;
    if max.is_some() {
        for statement in CREATE {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
    }
    tx.commit().await
}
