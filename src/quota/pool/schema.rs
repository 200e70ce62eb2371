//! The pool's tables in PostgreSQL and the admin changes to them: `init`, `set_limit`, `remove`.
//! Each is one transaction that locks the pool's row, so it never interleaves with a grant.

use super::PoolError;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS quota_pool (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    calls_limit bigint NOT NULL CHECK (calls_limit >= 0)
);
CREATE TABLE IF NOT EXISTS quota_pool_hosts (
    host text PRIMARY KEY,
    offline_share bigint NOT NULL CHECK (offline_share >= 0),
    last_contact timestamptz NOT NULL,
    -- Whether the host asked for calls at its last contact (it had work); false once idle.
    busy boolean NOT NULL DEFAULT false,
    -- Its last time cut off from the pool, as it reported on coming back, and the calls it
    -- had spent from its offline share in its last 24 hours then.
    offline_from timestamptz,
    offline_to timestamptz,
    offline_calls bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS quota_pool_ledger (
    host text NOT NULL,
    bucket bigint NOT NULL,
    calls bigint NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (host, bucket)
);";

/// Creates the tables and sets the pool's limit. Refuses a pool that is set up already.
pub async fn init(conn: &mut PgConnection, limit: i64) -> Result<(), PoolError> {
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
    let inserted =
        sqlx::query("INSERT INTO quota_pool (calls_limit) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(limit)
            .execute(&mut *tx)
            .await?;
    if inserted.rows_affected() == 0 {
        let limit = sqlx::query_scalar("SELECT calls_limit FROM quota_pool")
            .fetch_one(&mut *tx)
            .await?;
        return Err(PoolError::AlreadyInitialised { limit });
    }
    tx.commit().await?;
    Ok(())
}

/// Locks the pool's row and reads its id and limit.
pub(super) async fn lock_pool(conn: &mut PgConnection) -> Result<(String, i64), PoolError> {
    let row = sqlx::query("SELECT id::text, calls_limit FROM quota_pool FOR UPDATE")
        .fetch_optional(conn)
        .await
        .map_err(not_initialised)?
        .ok_or(PoolError::NotInitialised)?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// An undefined table means nobody ran `pool init`.
fn not_initialised(e: sqlx::Error) -> PoolError {
    match e.as_database_error().and_then(|d| d.code()) {
        Some(code) if code == "42P01" => PoolError::NotInitialised,
        _ => PoolError::Database(e),
    }
}

/// The sum of all hosts' offline shares.
pub(super) async fn shares(conn: &mut PgConnection) -> Result<i64, PoolError> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(sum(offline_share), 0)::bigint FROM quota_pool_hosts")
            .fetch_one(conn)
            .await?,
    )
}

/// Changes the limit. A limit below the offline shares is refused: hosts offline could then
/// spend more than it between them. Calls granted before stay counted.
pub async fn set_limit(conn: &mut PgConnection, limit: i64) -> Result<(), PoolError> {
    let mut tx = conn.begin().await?;
    lock_pool(&mut tx).await?;
    let shares = shares(&mut tx).await?;
    if limit < shares {
        return Err(PoolError::LimitBelowShares { limit, shares });
    }
    sqlx::query("UPDATE quota_pool SET calls_limit = $1")
        .bind(limit)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Forgets a retired host, releasing its offline share; what it was granted stays counted until
/// it leaves the window. Says whether the host was known.
pub async fn remove(conn: &mut PgConnection, host: &str) -> Result<bool, PoolError> {
    let mut tx = conn.begin().await?;
    lock_pool(&mut tx).await?;
    let removed = sqlx::query("DELETE FROM quota_pool_hosts WHERE host = $1")
        .bind(host)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed.rows_affected() > 0)
}
