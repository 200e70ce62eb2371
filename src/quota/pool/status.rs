//! What `pool status` shows: the limit, the calls in the window and each host's part, on the
//! database's clock.
//!
//! Whether a host runs offline now is inferred: a host that asked for calls at its last contact
//! (it had work) asks again within seconds while it reaches the pool (a grant lasts 2 s, a spent
//! pool is asked every second, a failed exchange retried after 5 s), and tells the pool when it
//! goes idle. So a busy host silent for [`OFFLINE_AFTER_SECS`] is cut off from the pool (or
//! stopped, or held back by Target for that long). What it spent offline it reports on coming
//! back, with the span.

use super::PoolError;
use super::schema::shares;
use crate::quota::first_bucket_in_window;
use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgConnection;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PoolStatus {
    pub limit: i64,
    pub calls_in_window: i64,
    pub offline_shares: i64,
    /// What the pool could grant now.
    pub free: i64,
    pub hosts: Vec<HostStatus>,
}

/// A host that had work at its last contact and has been silent this long is shown offline.
pub const OFFLINE_AFTER_SECS: i64 = 15;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HostStatus {
    pub host: String,
    pub offline_share: i64,
    /// Calls granted to it in the window.
    pub calls_in_window: i64,
    /// Seconds since it last reached the pool.
    pub last_contact_secs: i64,
    /// Whether it asked for calls at its last contact (false: it had gone idle).
    pub busy: bool,
    /// Busy at its last contact and silent since for [`OFFLINE_AFTER_SECS`] or more: running on
    /// its offline share (or stopped).
    pub offline: bool,
    /// Its last time cut off from the pool, as it reported on coming back.
    pub last_offline: Option<OfflineSpan>,
    /// Calls it had spent from its offline share in its last 24 hours, at its last report.
    pub offline_calls: i64,
}

/// A time a host was cut off from the pool, in seconds before now (the database's clock).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OfflineSpan {
    pub began_secs_ago: i64,
    pub ended_secs_ago: i64,
}

/// Reads the pool as it stands.
pub async fn status(conn: &mut PgConnection) -> Result<PoolStatus, PoolError> {
    let row = sqlx::query(
        "SELECT calls_limit, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
         FROM quota_pool",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.code()) {
        Some(code) if code == "42P01" => PoolError::NotInitialised,
        _ => PoolError::Database(e),
    })?
    .ok_or(PoolError::NotInitialised)?;
    let (limit, now): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let hosts = hosts(conn, first_bucket_in_window(now)).await?;
    let calls_in_window: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM quota_pool_ledger WHERE bucket >= $1",
    )
    .bind(first_bucket_in_window(now))
    .fetch_one(&mut *conn)
    .await?;
    let offline_shares = shares(conn).await?;
    Ok(PoolStatus {
        limit,
        calls_in_window,
        offline_shares,
        free: (limit - calls_in_window - offline_shares).max(0),
        hosts,
    })
}

async fn hosts(conn: &mut PgConnection, first: i64) -> Result<Vec<HostStatus>, PoolError> {
    let rows = sqlx::query(
        "SELECT h.host, h.offline_share,
                coalesce((SELECT sum(l.calls) FROM quota_pool_ledger l
                          WHERE l.host = h.host AND l.bucket >= $1), 0)::bigint,
                floor(extract(epoch FROM clock_timestamp() - h.last_contact))::bigint,
                h.busy,
                floor(extract(epoch FROM clock_timestamp() - h.offline_from))::bigint,
                floor(extract(epoch FROM clock_timestamp() - h.offline_to))::bigint,
                h.offline_calls
         FROM quota_pool_hosts h ORDER BY h.host",
    )
    .bind(first)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let last_contact_secs: i64 = row.try_get(3)?;
            let busy: bool = row.try_get(4)?;
            let began: Option<i64> = row.try_get(5)?;
            let ended: Option<i64> = row.try_get(6)?;
            Ok(HostStatus {
                host: row.try_get(0)?,
                offline_share: row.try_get(1)?,
                calls_in_window: row.try_get(2)?,
                last_contact_secs,
                busy,
                offline: busy && last_contact_secs >= OFFLINE_AFTER_SECS,
                last_offline: began.zip(ended).map(|(began_secs_ago, ended_secs_ago)| {
                    OfflineSpan {
                        began_secs_ago,
                        ended_secs_ago,
                    }
                }),
                offline_calls: row.try_get(7)?,
            })
        })
        .collect()
}
