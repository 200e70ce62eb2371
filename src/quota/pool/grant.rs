//! One grant: in a single transaction on the pool's row lock, apply the refunds the host brings,
//! register or enlarge its offline share, and grant it calls that keep everyone under the limit.
//!
//! Time is the database's (`clock_timestamp()`, read once, after the lock): the calls are booked
//! in the minute after it, and may be sent until that minute ends (the same arithmetic as
//! [`crate::quota::booking`]). The answer says how long that is from the database's `now`, so the
//! host can place the deadline on its own elapsed time.

use super::PoolError;
use super::schema::{lock_pool, shares};
use crate::quota::{booking, first_bucket_in_window};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// What a host asks for.
#[derive(Clone, Debug)]
pub struct GrantRequest<'a> {
    pub host: &'a str,
    pub wanted: i64,
    /// The offline share the host's config asks for.
    pub offline_share: i64,
    /// Calls granted earlier and not sent: `(bucket, calls)`.
    pub refunds: &'a [(i64, i64)],
    /// Set on the first grant after the host could not reach the pool (or after it started).
    pub offline: Option<OfflineReport>,
}

/// What a host reports of its time cut off from the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineReport {
    /// How long it had been cut off when it sent this request (its own elapsed time), if it was
    /// cut off in this run.
    pub for_ms: Option<i64>,
    /// Calls spent from its offline share in its last 24 hours.
    pub calls: i64,
}

impl<'a> GrantRequest<'a> {
    /// A request for `wanted` calls that brings no refunds and reports nothing.
    pub fn new(host: &'a str, wanted: i64, offline_share: i64) -> GrantRequest<'a> {
        GrantRequest {
            host,
            wanted,
            offline_share,
            refunds: &[],
            offline: None,
        }
    }
}

/// What the pool granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub pool_id: String,
    /// The pool ledger's bucket the calls are booked in (database minutes).
    pub bucket: i64,
    pub calls: i64,
    /// How long after the database's `now` the calls may be sent.
    pub remaining_ms: i64,
    /// The offline share the pool keeps for this host.
    pub accepted_share: i64,
    /// What the pool may grant in 24 hours: its limit less the offline shares.
    pub shareable: i64,
    /// Of which granted in the window, this grant included.
    pub granted_in_window: i64,
}

/// Grants up to `request.wanted` calls.
pub async fn grant(
    conn: &mut PgConnection,
    request: &GrantRequest<'_>,
) -> Result<Grant, PoolError> {
    let mut tx = conn.begin().await?;
    let (pool_id, limit) = lock_pool(&mut tx).await?;
    let now: i64 =
        sqlx::query_scalar("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint")
            .fetch_one(&mut *tx)
            .await?;
    refund(&mut tx, request).await?;
    let first = first_bucket_in_window(now);
    let used = used(&mut tx, first).await?;
    let accepted_share = register(&mut tx, request, limit - used).await?;
    if let Some(report) = request.offline {
        record_offline(&mut tx, request.host, report).await?;
    }
    let shareable = limit - shares(&mut tx).await?;
    let free = shareable - used;
    let calls = request.wanted.min(free).max(0);
    let (bucket, send_by) = booking(now);
    book(&mut tx, request.host, bucket, calls, first).await?;
    tx.commit().await?;
    Ok(Grant {
        pool_id,
        bucket,
        calls,
        remaining_ms: send_by - now,
        accepted_share,
        shareable,
        granted_in_window: used + calls,
    })
}

async fn refund(conn: &mut PgConnection, request: &GrantRequest<'_>) -> Result<(), PoolError> {
    for &(bucket, calls) in request.refunds {
        sqlx::query(
            "UPDATE quota_pool_ledger SET calls = greatest(calls - $3, 0)
             WHERE host = $1 AND bucket = $2",
        )
        .bind(request.host)
        .bind(bucket)
        .bind(calls)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn used(conn: &mut PgConnection, first: i64) -> Result<i64, PoolError> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM quota_pool_ledger WHERE bucket >= $1",
    )
    .bind(first)
    .fetch_one(conn)
    .await?)
}

/// Registers the host, or enlarges its share when the pool has room; a share is never made
/// smaller here, since the host may have spent it offline in the last 24 hours.
async fn register(
    conn: &mut PgConnection,
    request: &GrantRequest<'_>,
    unused: i64,
) -> Result<i64, PoolError> {
    let current: Option<i64> =
        sqlx::query_scalar("SELECT offline_share FROM quota_pool_hosts WHERE host = $1")
            .bind(request.host)
            .fetch_optional(&mut *conn)
            .await?;
    let others = shares(conn).await? - current.unwrap_or(0);
    let fits = request.offline_share <= unused - others;
    let share = match current {
        None if !fits => {
            return Err(PoolError::ShareDoesNotFit {
                host: request.host.to_owned(),
                share: request.offline_share,
                free: (unused - others).max(0),
            });
        }
        None => request.offline_share,
        Some(current) if fits => current.max(request.offline_share),
        Some(current) => current,
    };
    // `busy`: a host that asks for calls comes back within seconds while it has work; one that
    // asks for none has gone idle (see `status`).
    sqlx::query(
        "INSERT INTO quota_pool_hosts (host, offline_share, last_contact, busy)
         VALUES ($1, $2, clock_timestamp(), $3)
         ON CONFLICT (host) DO UPDATE
         SET offline_share = excluded.offline_share, last_contact = excluded.last_contact,
             busy = excluded.busy",
    )
    .bind(request.host)
    .bind(share)
    .bind(request.wanted > 0)
    .execute(conn)
    .await?;
    Ok(share)
}

/// Keeps what the host reports of its time offline: the span on the database's clock (it ended
/// when this request arrived), and the offline calls it spent in its last 24 hours.
async fn record_offline(
    conn: &mut PgConnection,
    host: &str,
    report: OfflineReport,
) -> Result<(), PoolError> {
    sqlx::query(
        "UPDATE quota_pool_hosts SET offline_calls = $2,
             offline_from = CASE WHEN $3::bigint IS NULL THEN offline_from
                 ELSE clock_timestamp() - make_interval(secs => $3::bigint / 1000.0) END,
             offline_to = CASE WHEN $3::bigint IS NULL THEN offline_to ELSE clock_timestamp() END
         WHERE host = $1",
    )
    .bind(host)
    .bind(report.calls)
    .bind(report.for_ms)
    .execute(conn)
    .await?;
    Ok(())
}

async fn book(
    conn: &mut PgConnection,
    host: &str,
    bucket: i64,
    calls: i64,
    first: i64,
) -> Result<(), PoolError> {
    if calls > 0 {
        sqlx::query(
            "INSERT INTO quota_pool_ledger (host, bucket, calls) VALUES ($1, $2, $3)
             ON CONFLICT (host, bucket) DO UPDATE SET calls = quota_pool_ledger.calls + excluded.calls",
        )
        .bind(host)
        .bind(bucket)
        .bind(calls)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM quota_pool_ledger WHERE bucket < $1")
        .bind(first)
        .execute(conn)
        .await?;
    Ok(())
}
