//! The one-line summary systemd shows in `systemctl status`: rows pending, quota left, any pause.

use crate::systemd::Notifier;
use sqlx::{Row, SqlitePool};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(10);

/// Builds the line from the database.
pub async fn status_line(pool: &SqlitePool) -> sqlx::Result<String> {
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox INDEXED BY outbox_visitor_unfinished WHERE state IN ('pending', 'in_flight')",
    )
    .fetch_one(pool)
    .await?;
    let state = sqlx::query(
        "SELECT quota_limit, calls_in_window, pause_reason FROM daemon_state WHERE id = 1",
    )
    .fetch_optional(pool)
    .await?;
    let (limit, used, pause) = match state {
        Some(row) => (
            row.try_get::<Option<i64>, _>(0)?.unwrap_or(0),
            row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
            row.try_get::<Option<String>, _>(2)?,
        ),
        None => (0, 0, None),
    };
    let mut line = format!(
        "{pending} rows waiting, {} of {limit} calls left in 24h",
        (limit - used).max(0)
    );
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
