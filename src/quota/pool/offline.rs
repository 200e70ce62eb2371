//! This host's side of the pool in its own SQLite database: its membership (the pool it joined
//! and the offline share the pool keeps for it) and its offline ledger, where calls made while
//! the pool cannot be reached are counted against that share, with the same bucket arithmetic as
//! the local ledger ([`crate::quota::booking`]) on the daemon's timeline.

use crate::quota::{Reservation, Usage, booking, first_bucket_in_window, next_free_at};
use sqlx::{SqliteConnection, SqlitePool};

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS quota_pool_member (
    single INTEGER PRIMARY KEY CHECK (single = 1),
    pool_id TEXT NOT NULL,
    host TEXT NOT NULL,
    offline_share INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_pool_offline (
    bucket INTEGER PRIMARY KEY,
    calls INTEGER NOT NULL
);";

/// The pool this host was accepted into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub pool_id: String,
    pub host: String,
    pub offline_share: i64,
}

/// The offline ledger and membership, in the outbox's database.
#[derive(Clone)]
pub struct OfflineLedger {
    pool: SqlitePool,
}

impl OfflineLedger {
    /// Creates the tables when missing.
    pub async fn open(pool: SqlitePool) -> sqlx::Result<OfflineLedger> {
        sqlx::raw_sql(TABLES).execute(&pool).await?;
        Ok(OfflineLedger { pool })
    }

    /// The membership saved at the last contact, if this host was ever accepted.
    pub async fn member(&self) -> sqlx::Result<Option<Member>> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT pool_id, host, offline_share FROM quota_pool_member")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(pool_id, host, offline_share)| Member {
            pool_id,
            host,
            offline_share,
        }))
    }

    pub async fn save_member(&self, member: &Member) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO quota_pool_member (single, pool_id, host, offline_share)
             VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (single) DO UPDATE SET pool_id = excluded.pool_id,
                 host = excluded.host, offline_share = excluded.offline_share",
        )
        .bind(&member.pool_id)
        .bind(&member.host)
        .bind(member.offline_share)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// Reserves up to `wanted` calls of `share` at `now_ms`, booked before they are sent, with
    /// `synchronous = FULL` so a power cut cannot lose a booking whose calls went out.
    pub async fn reserve(&self, now_ms: i64, wanted: i64, share: i64) -> sqlx::Result<Reservation> {
        let (bucket, send_by) = booking(now_ms);
        let mut conn = self.pool.acquire().await?;
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await?;
        let booked = book(&mut conn, now_ms, wanted, share, bucket).await;
        let restored = sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await;
        let calls = booked?;
        restored?;
        Ok(Reservation {
            bucket,
            calls,
            send_by,
        })
    }

    /// How much of the share is used at `now_ms`.
    pub async fn usage(&self, now_ms: i64, share: i64) -> sqlx::Result<Usage> {
        let buckets: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT bucket, calls FROM quota_pool_offline WHERE bucket >= ?1 AND calls > 0
             ORDER BY bucket",
        )
        .bind(first_bucket_in_window(now_ms))
        .fetch_all(&self.pool)
        .await?;
        Ok(Usage {
            used: buckets.iter().map(|(_, calls)| calls).sum(),
            limit: share,
            next_free_at: next_free_at(&buckets, share),
        })
    }
}

async fn book(
    conn: &mut SqliteConnection,
    now_ms: i64,
    wanted: i64,
    share: i64,
    bucket: i64,
) -> sqlx::Result<i64> {
    let first = first_bucket_in_window(now_ms);
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
    let used: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0) FROM quota_pool_offline WHERE bucket >= ?1",
    )
    .bind(first)
    .fetch_one(&mut *tx)
    .await?;
    let calls = wanted.min(share - used).max(0);
    if calls > 0 {
        sqlx::query(
            "INSERT INTO quota_pool_offline (bucket, calls) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET calls = calls + excluded.calls",
        )
        .bind(bucket)
        .bind(calls)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM quota_pool_offline WHERE bucket < ?1")
        .bind(first)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(calls)
}

/// Gives back offline calls reserved but not made, inside the caller's transaction.
pub async fn refund_offline(
    conn: &mut SqliteConnection,
    reservation: Reservation,
    unused: i64,
) -> sqlx::Result<()> {
    if unused <= 0 {
        return Ok(());
    }
    sqlx::query("UPDATE quota_pool_offline SET calls = max(calls - ?2, 0) WHERE bucket = ?1")
        .bind(reservation.bucket)
        .bind(unused.min(reservation.calls))
        .execute(conn)
        .await
        .map(|_| ())
}
