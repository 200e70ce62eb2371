//! This host's view of the pool for `status` and `/metrics`, which cannot ask the daemon: the
//! daemon keeps it in one row of `quota_pool_view` in its SQLite database (written when it
//! changes, at most about once a second, and refreshed every minute), with times on its
//! timeline; readers place them on the wall clock with the anchor in `daemon_state`. Without
//! `[quota.pool]` the daemon removes the row at start, so nothing about a pool is shown.

use crate::metrics::{known_count, known_seconds};
use crate::words::{relative, rfc3339, when};
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

const TABLE: &str = "
CREATE TABLE IF NOT EXISTS quota_pool_view (
    single INTEGER PRIMARY KEY CHECK (single = 1),
    pool TEXT NOT NULL,
    host TEXT NOT NULL,
    reachable INTEGER,
    since_ms INTEGER NOT NULL,
    held INTEGER NOT NULL,
    offline_share INTEGER,
    offline_used INTEGER NOT NULL,
    last_contact_ms INTEGER,
    error TEXT
);";

/// What this host knows of the pool. Times are timeline ms when written, wall-clock ms when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolView {
    /// Where the pool is (`host[:port]/database`), never the password.
    pub pool: String,
    /// This host's name in the pool.
    pub host: String,
    /// `None` until this run first asked the pool.
    pub reachable: Option<bool>,
    /// When `reachable` last changed (or the run started).
    pub since_ms: i64,
    /// Calls granted by the pool and not yet sent or given back.
    pub held: i64,
    /// The offline share the pool keeps for this host; `None` if it never accepted it.
    pub offline_share: Option<i64>,
    /// Of which spent in the last 24 hours.
    pub offline_used: i64,
    /// This host's last exchange with the pool, in this run or before.
    pub last_contact_ms: Option<i64>,
    /// Why the last exchange failed, while unreachable.
    pub error: Option<String>,
}

impl PoolView {
    /// What is left of the offline share in the rolling 24 hours.
    pub fn offline_left(&self) -> Option<i64> {
        self.offline_share
            .map(|share| (share - self.offline_used).max(0))
    }
}

/// Creates the table when missing.
pub(super) async fn prepare(sqlite: &SqlitePool) -> sqlx::Result<()> {
    sqlx::raw_sql(TABLE).execute(sqlite).await.map(|_| ())
}

/// Saves `view` (times on the timeline); a missing last contact keeps the one saved before.
pub(super) async fn save(sqlite: &SqlitePool, view: &PoolView) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO quota_pool_view (single, pool, host, reachable, since_ms, held,
             offline_share, offline_used, last_contact_ms, error)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (single) DO UPDATE SET pool = ?1, host = ?2, reachable = ?3, since_ms = ?4,
             held = ?5, offline_share = ?6, offline_used = ?7,
             last_contact_ms = coalesce(?8, last_contact_ms), error = ?9",
    )
    .bind(&view.pool)
    .bind(&view.host)
    .bind(view.reachable)
    .bind(view.since_ms)
    .bind(view.held)
    .bind(view.offline_share)
    .bind(view.offline_used)
    .bind(view.last_contact_ms)
    .bind(&view.error)
    .execute(sqlite)
    .await
    .map(|_| ())
}

async fn has_table(sqlite: &SqlitePool) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quota_pool_view'",
    )
    .fetch_optional(sqlite)
    .await?;
    Ok(found.is_some())
}

/// Forgets the view of a pool this host no longer uses (no `[quota.pool]`).
pub async fn forget(sqlite: &SqlitePool) -> sqlx::Result<()> {
    if has_table(sqlite).await? {
        sqlx::query("DELETE FROM quota_pool_view")
            .execute(sqlite)
            .await?;
    }
    Ok(())
}

/// The view as the daemon last saved it, times on the wall clock; `None` when there is none.
pub async fn read(sqlite: &SqlitePool) -> sqlx::Result<Option<PoolView>> {
    if !has_table(sqlite).await? {
        return Ok(None);
    }
    // The daemon saves its anchor (timeline and wall clock read together) at every round.
    let row = sqlx::query(
        "SELECT v.pool, v.host, v.reachable, v.since_ms, v.held, v.offline_share,
                v.offline_used, v.last_contact_ms, v.error,
                coalesce(s.wall_ms - s.timeline_ms, 0)
         FROM quota_pool_view v LEFT JOIN daemon_state s ON s.id = 1",
    )
    .fetch_optional(sqlite)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let offset: i64 = row.try_get(9)?;
    Ok(Some(PoolView {
        pool: row.try_get(0)?,
        host: row.try_get(1)?,
        reachable: row.try_get(2)?,
        since_ms: row.try_get::<i64, _>(3)? + offset,
        held: row.try_get(4)?,
        offline_share: row.try_get(5)?,
        offline_used: row.try_get(6)?,
        last_contact_ms: row.try_get::<Option<i64>, _>(7)?.map(|t| t + offset),
        error: row.try_get(8)?,
    }))
}

/// `status`'s lines about the pool, in its `key value` layout.
pub fn render_pool(view: &PoolView, now_ms: i64) -> Vec<String> {
    let since = when(view.since_ms, now_ms);
    let reach = match view.reachable {
        Some(true) => format!("reachable since {since}"),
        Some(false) => format!(
            "UNREACHABLE since {since}{}",
            view.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
        None => "not asked yet by this run".to_owned(),
    };
    let contact = view
        .last_contact_ms
        .map_or_else(|| "never".to_owned(), |t| relative(t, now_ms));
    let share = match (view.offline_share, view.offline_left()) {
        (Some(share), Some(left)) => {
            format!("offline share {share}, {left} left in the last 24 hours")
        }
        _ => "no offline share: the pool never accepted this host".to_owned(),
    };
    vec![
        format!(
            "{:<15} {} as {}: {reach}; last contact {contact}",
            "pool", view.pool, view.host
        ),
        format!("{:<15} {} calls held; {share}", "pool quota", view.held),
    ]
}

/// What needs a person in this host's view of the pool, for `status`: the pool cannot be reached
/// (the host delivers within its offline share meanwhile), more so once that share is spent.
pub fn attention(view: &PoolView, now_ms: i64) -> Option<String> {
    if view.reachable != Some(false) {
        return None;
    }
    let since = when(view.since_ms, now_ms);
    let left = match view.offline_left() {
        Some(0) => {
            "its offline share is spent, so nothing goes out until the pool answers".to_owned()
        }
        Some(left) => format!("it delivers within its offline share meanwhile ({left} calls left)"),
        None => "it has no offline share, so nothing goes out until the pool answers".to_owned(),
    };
    Some(format!(
        "the quota pool at {} cannot be reached since {since}; {left}; check the network to the \
         pool's PostgreSQL and the server itself",
        view.pool
    ))
}

/// `status --json`'s `pool` object.
#[derive(Clone, Debug, Serialize)]
pub struct PoolViewDoc {
    pub pool: String,
    pub host: String,
    /// `null` until this run first asked the pool.
    pub reachable: Option<bool>,
    /// Since when it is (un)reachable.
    pub since: String,
    pub since_ms: i64,
    pub held_calls: i64,
    pub offline_share: Option<i64>,
    pub offline_used: i64,
    pub offline_left: Option<i64>,
    pub last_contact_at: Option<String>,
    pub last_contact_at_ms: Option<i64>,
    pub error: Option<String>,
}

impl PoolViewDoc {
    pub fn new(view: &PoolView) -> PoolViewDoc {
        PoolViewDoc {
            pool: view.pool.clone(),
            host: view.host.clone(),
            reachable: view.reachable,
            since: rfc3339(view.since_ms),
            since_ms: view.since_ms,
            held_calls: view.held,
            offline_share: view.offline_share,
            offline_used: view.offline_used,
            offline_left: view.offline_left(),
            last_contact_at: view.last_contact_ms.map(rfc3339),
            last_contact_at_ms: view.last_contact_ms,
            error: view.error.clone(),
        }
    }
}

/// Writes this host's view of the pool as gauges in the OpenMetrics text format, without the
/// closing `# EOF` (the page ends after the other figures); nothing without a pool. A gauge whose
/// value is not known yet (reachable before the first try, the offline share before the first
/// contact) is left out.
pub async fn render_metrics(sqlite: &SqlitePool, out: &mut String) -> anyhow::Result<()> {
    let Some(view) = read(sqlite).await? else {
        return Ok(());
    };
    let mut registry = Registry::with_prefix("profile_outbox_pool");
    let seconds = |ms: i64| ms as f64 / 1000.0;
    known_count(
        &mut registry,
        "reachable",
        "1 while the quota pool answers, 0 while it cannot be reached (absent before the first try)",
        view.reachable.map(i64::from),
    );
    known_seconds(
        &mut registry,
        "reachable_changed_timestamp_seconds",
        "When the pool last became reachable or unreachable (Unix time)",
        Some(seconds(view.since_ms)),
    );
    known_count(
        &mut registry,
        "held_calls",
        "Calls granted by the pool and not yet sent or given back",
        Some(view.held),
    );
    known_count(
        &mut registry,
        "offline_share_calls",
        "Calls per rolling 24 hours this host may make while the pool is unreachable",
        view.offline_share,
    );
    known_count(
        &mut registry,
        "offline_left_calls",
        "Calls left of the offline share in the rolling 24 hours",
        view.offline_left(),
    );
    known_seconds(
        &mut registry,
        "last_contact_timestamp_seconds",
        "When this host last exchanged with the pool (Unix time)",
        view.last_contact_ms.map(seconds),
    );
    encode_registry(out, &registry)?;
    Ok(())
}

#[cfg(test)]
mod attention_tests {
    use super::*;

    fn view(reachable: Option<bool>, share: Option<i64>, used: i64) -> PoolView {
        PoolView {
            pool: "db.example:5432/quota".to_owned(),
            host: "store-1".to_owned(),
            reachable,
            since_ms: 0,
            held: 0,
            offline_share: share,
            offline_used: used,
            last_contact_ms: Some(0),
            error: None,
        }
    }

    #[test]
    fn an_unreachable_pool_needs_a_person_and_says_what_is_left_of_the_offline_share() {
        assert_eq!(attention(&view(Some(true), Some(100), 0), 1_000), None);
        assert_eq!(attention(&view(None, Some(100), 0), 1_000), None);
        let some_left = attention(&view(Some(false), Some(100), 30), 1_000).unwrap_or_default();
        assert!(
            some_left.contains("db.example:5432/quota") && some_left.contains("70 calls left"),
            "{some_left}"
        );
        let spent = attention(&view(Some(false), Some(100), 100), 1_000).unwrap_or_default();
        assert!(spent.contains("offline share is spent"), "{spent}");
    }
}
