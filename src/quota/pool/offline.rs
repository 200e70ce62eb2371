//! This host's side of the pool in its own SQLite database: its membership (the pool it joined
//! and the offline share the pool keeps for it) and its offline ledger, where calls made while
//! the pool cannot be reached are counted against that share, with the same bucket arithmetic as
//! the local ledger ([`crate::quota::booking`]) on the daemon's timeline.

use crate::quota::ledger::{self, Table};
use crate::quota::{Reservation, Usage};
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

    /// The host's database.
    pub(super) fn database(&self) -> &SqlitePool {
        &self.pool
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

    /// Reserves up to `wanted` calls of `share` at `now_ms`, in the local ledger's way: booked
    /// before they are sent, with `synchronous = FULL`.
    pub async fn reserve(&self, now_ms: i64, wanted: i64, share: i64) -> sqlx::Result<Reservation> {
        ledger::reserve_in(&self.pool, Table::Offline, now_ms, wanted, share).await
    }

    /// How much of the share is used at `now_ms`.
    pub async fn usage(&self, now_ms: i64, share: i64) -> sqlx::Result<Usage> {
        ledger::usage_in(
            &mut *self.pool.acquire().await?,
            Table::Offline,
            now_ms,
            share,
        )
        .await
    }
}

/// Gives back offline calls reserved but not made, inside the caller's transaction.
pub async fn refund_offline(
    conn: &mut SqliteConnection,
    reservation: Reservation,
    unused: i64,
) -> sqlx::Result<()> {
    ledger::refund_in(conn, Table::Offline, reservation, unused).await
}
