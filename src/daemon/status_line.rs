//! The one-line summary systemd shows in `systemctl status`: rows waiting (from the queue's one
//! source of figures, `outbox::figures`), quota left, any pause.

use crate::systemd::Notifier;
use sqlx::{Row, SqlitePool};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(10);

/// Builds the line from the database.
pub async fn status_line(pool: &SqlitePool) -> sqlx::Result<String> {
    let mut tx = pool.begin().await?;
    let pending = crate::outbox::figures::counts(&mut tx).await?.waiting();
    let state = sqlx::query(
        "SELECT quota_limit, calls_in_window, pause_reason FROM daemon_state WHERE id = 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    // Before the first batch the limit is not recorded yet: say so rather than "0 of 0".
    let (quota, pause) = match state {
        Some(row) => (
            row.try_get::<Option<i64>, _>(0)?
                .zip(row.try_get::<Option<i64>, _>(1)?),
            row.try_get::<Option<String>, _>(2)?,
        ),
        None => (None, None),
    };
    let mut line = match quota {
        Some((limit, used)) => format!(
            "{pending} rows waiting, {} of {limit} calls left in 24h",
            (limit - used).max(0)
        ),
        None => {
            format!("{pending} rows waiting, calls left in 24h: not counted before the first batch")
        }
    };
    if let Some(reason) = pause {
        line.push_str(&format!(", paused: {reason}"));
    }
    Ok(line)
}

/// Sends the line now and every ten seconds until `stop` is cancelled.
pub async fn run(pool: SqlitePool, notifier: Arc<Mutex<Notifier>>, stop: CancellationToken) {
    loop {
        match status_line(&pool).await {
            Ok(line) => {
                if let Ok(notifier) = notifier.lock() {
                    notifier.status(&line);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot build the status line"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, Timeline};

    #[tokio::test]
    async fn before_the_first_batch_the_line_does_not_claim_zero_calls_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::scratch::migrated(dir.path()).await;
        let timeline = Timeline::resume(Clock::manual(1_800_000_000_000), None);
        crate::state::started(&pool, &timeline)
            .await
            .expect("started");

        let before = status_line(&pool).await.expect("line");
        sqlx::query("UPDATE daemon_state SET quota_limit = 1000000, calls_in_window = 40")
            .execute(&pool)
            .await
            .expect("a batch recorded");
        let after = status_line(&pool).await.expect("line");
        for state in ["pending", "in_flight", "failed"] {
            sqlx::query(
                "INSERT INTO outbox (mbox_pc, attributes, state) VALUES ('1-1.01_00', '{}', ?1)",
            )
            .bind(state)
            .execute(&pool)
            .await
            .expect("row added");
        }
        let waiting = status_line(&pool).await.expect("line");

        assert_eq!(
            before,
            "0 rows waiting, calls left in 24h: not counted before the first batch"
        );
        assert_eq!(after, "0 rows waiting, 999960 of 1000000 calls left in 24h");
        assert_eq!(
            waiting,
            "2 rows waiting, 999960 of 1000000 calls left in 24h"
        );
    }
}
