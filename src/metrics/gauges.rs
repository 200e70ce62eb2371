//! The figures `/metrics` reads from the database: rows per state, the oldest unfinished row's
//! age, and the quota. Counting rows costs time that grows with the table, so the counts are
//! read through the partial indexes of each state, one short statement at a time (no read
//! transaction is held across them), and kept for [`COUNTS_FOR`] between scrapes. The quota comes
//! from the daemon's one-row visible state at every scrape.

use sqlx::{Row, SqlitePool};
use std::fmt::Write;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long row counts are reused before they are read again.
pub const COUNTS_FOR: Duration = Duration::from_secs(15);

/// One count per state, each through that state's partial index (`migrations/`), never the whole
/// table. Delivered rows have no index of their own: they are the finished rows (delivered or
/// cancelled, which retention keeps to a few days' worth) less the cancelled ones.
pub const COUNTS: [(&str, &str); 5] = [
    (
        "pending",
        "SELECT count(*) FROM outbox INDEXED BY outbox_due WHERE state = 'pending'",
    ),
    (
        "in_flight",
        "SELECT count(*) FROM outbox INDEXED BY outbox_in_flight WHERE state = 'in_flight'",
    ),
    (
        "finished",
        "SELECT count(*) FROM outbox INDEXED BY outbox_finished WHERE state IN ('delivered', 'cancelled')",
    ),
    (
        "failed",
        "SELECT count(*) FROM outbox INDEXED BY outbox_failed WHERE state = 'failed'",
    ),
    (
        "cancelled",
        "SELECT count(*) FROM outbox INDEXED BY outbox_cancelled WHERE state = 'cancelled'",
    ),
];

/// The oldest row not yet finished: the lowest id among unfinished rows.
pub const OLDEST_UNFINISHED: &str =
    "SELECT min(created_at) FROM outbox INDEXED BY outbox_visitor_unfinished
     WHERE state IN ('pending', 'in_flight')";

/// Row counts and the oldest unfinished row, as last read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowFigures {
    /// (state, rows) in `outbox::State::ALL` order.
    pub rows: Vec<(&'static str, i64)>,
    pub oldest_unfinished_ms: Option<i64>,
}

/// The row figures and when they were read.
#[derive(Debug, Default)]
pub struct Gauges {
    cached: Mutex<Option<(Instant, RowFigures)>>,
}

impl Gauges {
    /// The row figures, read again only when the last read is older than [`COUNTS_FOR`]. Scrapes
    /// that arrive together wait for one read.
    pub async fn rows(&self, pool: &SqlitePool) -> sqlx::Result<RowFigures> {
        let mut cached = self.cached.lock().await;
        if let Some((at, figures)) = cached.as_ref()
            && at.elapsed() < COUNTS_FOR
        {
            return Ok(figures.clone());
        }
        let figures = read_rows(pool).await?;
        *cached = Some((Instant::now(), figures.clone()));
        Ok(figures)
    }
}

async fn read_rows(pool: &SqlitePool) -> sqlx::Result<RowFigures> {
    let mut counts = Vec::new();
    for (name, sql) in COUNTS {
        let count: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
        counts.push((name, count));
    }
    let count = |wanted: &str| {
        counts
            .iter()
            .find(|(name, _)| *name == wanted)
            .map_or(0, |(_, n)| *n)
    };
    let delivered = (count("finished") - count("cancelled")).max(0);
    let rows = crate::outbox::State::ALL
        .iter()
        .map(|state| {
            let n = match state.as_str() {
                "delivered" => delivered,
                other => count(other),
            };
            (state.as_str(), n)
        })
        .collect();
    let oldest_unfinished_ms = sqlx::query_scalar(OLDEST_UNFINISHED)
        .fetch_one(pool)
        .await?;
    Ok(RowFigures {
        rows,
        oldest_unfinished_ms,
    })
}

/// Writes the row gauges, and the quota gauges read now from `daemon_state`.
pub async fn render(
    figures: &RowFigures,
    pool: &SqlitePool,
    now_ms: i64,
    out: &mut String,
) -> sqlx::Result<()> {
    let _ = writeln!(
        out,
        "# HELP profile_outbox_rows Rows in the outbox by state."
    );
    let _ = writeln!(out, "# TYPE profile_outbox_rows gauge");
    for (state, count) in &figures.rows {
        let _ = writeln!(out, "profile_outbox_rows{{state=\"{state}\"}} {count}");
    }
    let age = figures
        .oldest_unfinished_ms
        .map_or(0.0, |created| (now_ms - created).max(0) as f64 / 1000.0);
    let _ = writeln!(
        out,
        "# HELP profile_outbox_oldest_pending_seconds Age of the oldest row not yet delivered."
    );
    let _ = writeln!(out, "# TYPE profile_outbox_oldest_pending_seconds gauge");
    let _ = writeln!(out, "profile_outbox_oldest_pending_seconds {age}");
    let quota = sqlx::query(
        "SELECT coalesce(calls_in_window, 0), coalesce(quota_limit, 0) FROM daemon_state WHERE id = 1",
    )
    .fetch_optional(pool)
    .await?;
    let (used, limit): (i64, i64) = match quota {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (0, 0),
    };
    let _ = writeln!(
        out,
        "# HELP profile_outbox_quota_calls_in_window Calls counted in the rolling 24-hour window."
    );
    let _ = writeln!(out, "# TYPE profile_outbox_quota_calls_in_window gauge");
    let _ = writeln!(out, "profile_outbox_quota_calls_in_window {used}");
    let _ = writeln!(
        out,
        "# HELP profile_outbox_quota_left Calls left in the rolling 24-hour window."
    );
    let _ = writeln!(out, "# TYPE profile_outbox_quota_left gauge");
    let _ = writeln!(out, "profile_outbox_quota_left {}", (limit - used).max(0));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database(dir: &std::path::Path) -> SqlitePool {
        crate::db::scratch::migrated(dir).await
    }

    #[tokio::test]
    async fn every_count_reads_its_states_index_never_the_whole_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        for (state, sql) in COUNTS {
            // EXPLAIN QUERY PLAN's rows are (id, parent, notused, detail).
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&pool)
                .await
                .expect("plan");
            let details: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>(3).unwrap_or_default())
                .collect();
            // Finished rows are checked against the table, since the index holds two states.
            let wanted = match state {
                "finished" => "USING INDEX outbox_finished",
                _ => "USING COVERING INDEX",
            };
            assert!(
                !details.is_empty() && details.iter().all(|d| d.contains(wanted)),
                "{state}: {details:?}"
            );
        }
    }

    #[tokio::test]
    async fn counts_are_read_again_only_after_they_are_old() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        let gauges = Gauges::default();
        let insert = "INSERT INTO outbox (mbox_pc, attributes) VALUES ('1-1.01_00', '{\"a\":1}')";

        let first = gauges.rows(&pool).await.expect("read");
        sqlx::query(insert).execute(&pool).await.expect("row added");
        let cached = gauges.rows(&pool).await.expect("read");
        if let Some((at, _)) = gauges.cached.lock().await.as_mut() {
            *at -= COUNTS_FOR;
        }
        let fresh = gauges.rows(&pool).await.expect("read");

        let pending = |f: &RowFigures| f.rows.iter().find(|(s, _)| *s == "pending").map(|r| r.1);
        assert_eq!(pending(&first), Some(0));
        assert_eq!(cached, first);
        assert_eq!(pending(&fresh), Some(1));
    }
}
