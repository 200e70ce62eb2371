//! The quota ledger in SQLite: calls are reserved before they are sent, in the same transaction
//! that checks the window, and unused reservations are given back when the batch is recorded.
//!
//! A reservation is booked in the minute after the one it is made in, and its calls may go out
//! only until that minute ends ([`booking`]): so every call is counted in a minute no earlier
//! than the one it was sent in, however long it waited for its turn. The reservation is written
//! with `synchronous = FULL`, so a power cut cannot lose a booking whose calls went out.
//!
//! A crash between reserving and recording leaves the reservation counted: the ledger may
//! undercount what is left, never overcount it.

use super::window::{booking, first_bucket_in_window, free_at, next_free_at};
use sqlx::{SqliteConnection, SqlitePool};

/// Which ledger table: the host's own count, or (with a pool) the calls made while the pool could
/// not be reached, counted against this host's offline share. Both keep the same buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Calls,
    Offline,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Calls => "quota_ledger",
            Table::Offline => "quota_pool_offline",
        }
    }
}

/// Calls reserved in one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub bucket: i64,
    pub calls: i64,
    /// The reserved calls may be sent until this time (timeline ms), and not after.
    pub send_by: i64,
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
    reserve_in(pool, Table::Calls, now_ms, wanted, limit).await
}

/// [`reserve`] in `table`.
pub async fn reserve_in(
    pool: &SqlitePool,
    table: Table,
    now_ms: i64,
    wanted: i64,
    limit: i64,
) -> sqlx::Result<Reservation> {
    let (bucket, send_by) = booking(now_ms);
    let first = first_bucket_in_window(now_ms);
    let mut conn = pool.acquire().await?;
    // Outside the transaction, where SQLite allows the change; only this connection's next
    // commits wait for the disk, and the setting is put back below.
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *conn)
        .await?;
    let reserved = book(&mut conn, table, wanted, limit, bucket, first).await;
    let restored = sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut *conn)
        .await;
    let calls = reserved?;
    restored?;
    Ok(Reservation {
        bucket,
        calls,
        send_by,
    })
}

async fn book(
    conn: &mut SqliteConnection,
    table: Table,
    wanted: i64,
    limit: i64,
    bucket: i64,
    first: i64,
) -> sqlx::Result<i64> {
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
    let table = table.name();
    let used: i64 = sqlx::query_scalar(&format!(
        "SELECT coalesce(sum(calls), 0) FROM {table} WHERE bucket >= ?1"
    ))
    .bind(first)
    .fetch_one(&mut *tx)
    .await?;
    let calls = wanted.min(limit - used).max(0);
    if calls > 0 {
        sqlx::query(&format!(
            "INSERT INTO {table} (bucket, calls) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET calls = calls + excluded.calls"
        ))
        .bind(bucket)
        .bind(calls)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(&format!("DELETE FROM {table} WHERE bucket < ?1"))
        .bind(first)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(calls)
}

/// Gives back calls reserved but not made, inside the caller's transaction.
pub async fn refund(
    conn: &mut SqliteConnection,
    reservation: Reservation,
    unused: i64,
) -> sqlx::Result<()> {
    refund_in(conn, Table::Calls, reservation, unused).await
}

/// [`refund`] in `table`.
pub async fn refund_in(
    conn: &mut SqliteConnection,
    table: Table,
    reservation: Reservation,
    unused: i64,
) -> sqlx::Result<()> {
    if unused <= 0 {
        return Ok(());
    }
    let table = table.name();
    sqlx::query(&format!(
        "UPDATE {table} SET calls = max(calls - ?2, 0) WHERE bucket = ?1"
    ))
    .bind(reservation.bucket)
    .bind(unused.min(reservation.calls))
    .execute(conn)
    .await
    .map(|_| ())
}

/// When `needed` calls will be free at the earliest, if not now (timeline ms). `None` also when
/// they never can be, `needed` being past the limit.
pub async fn free_for(
    conn: &mut SqliteConnection,
    now_ms: i64,
    limit: i64,
    needed: i64,
) -> sqlx::Result<Option<i64>> {
    Ok(free_at(
        &window(conn, Table::Calls, now_ms).await?,
        limit,
        needed,
    ))
}

async fn window(
    conn: &mut SqliteConnection,
    table: Table,
    now_ms: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let table = table.name();
    sqlx::query_as(&format!(
        "SELECT bucket, calls FROM {table} WHERE bucket >= ?1 AND calls > 0 ORDER BY bucket"
    ))
    .bind(first_bucket_in_window(now_ms))
    .fetch_all(conn)
    .await
}

/// How much of the window is used at `now_ms`.
pub async fn usage(conn: &mut SqliteConnection, now_ms: i64, limit: i64) -> sqlx::Result<Usage> {
    usage_in(conn, Table::Calls, now_ms, limit).await
}

/// [`usage`] of `table`.
pub async fn usage_in(
    conn: &mut SqliteConnection,
    table: Table,
    now_ms: i64,
    limit: i64,
) -> sqlx::Result<Usage> {
    let buckets = window(conn, table, now_ms).await?;
    let used = buckets.iter().map(|(_, calls)| calls).sum();
    Ok(Usage {
        used,
        limit,
        next_free_at: next_free_at(&buckets, limit),
    })
}
