//! The quota ledger in SQLite: calls are reserved before they are sent, in the same transaction
//! that checks the window, and unused reservations are given back when the batch is recorded.
//!
//! A crash between reserving and recording leaves the reservation counted: the ledger may
//! undercount what is left, never overcount it.

use super::window::{bucket_of, first_bucket_in_window, next_free_at};
use sqlx::{SqliteConnection, SqlitePool};

/// Calls reserved in one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub bucket: i64,
    pub calls: i64,
}

/// The window as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub used: i64,
    pub limit: i64,
    /// When a call is free again, if none is now (timeline ms).
    pub next_free_at: Option<i64>,
}

impl Usage {
    pub fn left(&self) -> i64 {
        (self.limit - self.used).max(0)
    }
}

/// Reserves up to `wanted` calls at `now_ms`, as many as the window has left. Old buckets are
/// pruned in the same transaction.
pub async fn reserve(
    pool: &SqlitePool,
    now_ms: i64,
    wanted: i64,
    limit: i64,
) -> sqlx::Result<Reservation> {
    let bucket = bucket_of(now_ms);
    let first = first_bucket_in_window(now_ms);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let used: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(calls), 0) FROM quota_ledger WHERE bucket >= ?1")
            .bind(first)
            .fetch_one(&mut *tx)
            .await?;
    let calls = wanted.min(limit - used).max(0);
    if calls > 0 {
        sqlx::query(
            "INSERT INTO quota_ledger (bucket, calls) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET calls = calls + excluded.calls",
        )
        .bind(bucket)
        .bind(calls)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM quota_ledger WHERE bucket < ?1")
        .bind(first)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reservation { bucket, calls })
}

/// Gives back calls reserved but not made, inside the caller's transaction.
pub async fn refund(
    conn: &mut SqliteConnection,
    reservation: Reservation,
    unused: i64,
) -> sqlx::Result<()> {
    if unused <= 0 {
        return Ok(());
    }
    sqlx::query("UPDATE quota_ledger SET calls = max(calls - ?2, 0) WHERE bucket = ?1")
        .bind(reservation.bucket)
        .bind(unused.min(reservation.calls))
        .execute(conn)
        .await
        .map(|_| ())
}

/// How much of the window is used at `now_ms`.
pub async fn usage(conn: &mut SqliteConnection, now_ms: i64, limit: i64) -> sqlx::Result<Usage> {
    let buckets: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT bucket, calls FROM quota_ledger WHERE bucket >= ?1 AND calls > 0 ORDER BY bucket",
    )
    .bind(first_bucket_in_window(now_ms))
    .fetch_all(conn)
    .await?;
    let used = buckets.iter().map(|(_, calls)| calls).sum();
    Ok(Usage {
        used,
        limit,
        next_free_at: next_free_at(&buckets, limit),
    })
}
