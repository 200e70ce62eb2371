//! `/healthz`: healthy while the delivery loop saves its heartbeat and its rounds do not keep
//! failing. Both are read from the daemon's visible state (`daemon_state`), which the loop saves
//! at least every second, recording the last round error and when it happened.

use sqlx::{Row, SqlitePool};

/// A heartbeat older than this means the delivery loop is not running.
pub const HEARTBEAT_LIMIT_MS: i64 = 60_000;

/// An error this recent, with no delivery since, means rounds are failing now.
pub const ERROR_WINDOW_MS: i64 = 30_000;

/// What `/healthz` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// A plain sentence for the HTTP client; no database text.
    Unhealthy(&'static str),
}

/// Reads the visible state and judges it at `now_ms` (wall clock).
pub async fn health(pool: &SqlitePool, now_ms: i64) -> sqlx::Result<Health> {
    let row = sqlx::query(
        "SELECT heartbeat_at, last_error_at, last_delivery_at FROM daemon_state WHERE id = 1",
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(Health::Unhealthy("the daemon has not saved its state yet"));
    };
    let heartbeat: Option<i64> = row.try_get(0)?;
    let last_error: Option<i64> = row.try_get(1)?;
    let last_delivery: Option<i64> = row.try_get(2)?;
    Ok(judge(now_ms, heartbeat, last_error, last_delivery))
}

/// The rule, apart from the database.
pub fn judge(
    now_ms: i64,
    heartbeat: Option<i64>,
    last_error: Option<i64>,
    last_delivery: Option<i64>,
) -> Health {
    if heartbeat.is_none_or(|at| now_ms - at > HEARTBEAT_LIMIT_MS) {
        return Health::Unhealthy("the delivery loop has not saved a heartbeat for a minute");
    }
    let failing = last_error.is_some_and(|error| {
        now_ms - error <= ERROR_WINDOW_MS && last_delivery.is_none_or(|delivered| error > delivered)
    });
    if failing {
        return Health::Unhealthy("delivery rounds are failing; see the daemon's log");
    }
    Health::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn healthy_only_with_a_fresh_heartbeat_and_no_recent_error_after_the_last_delivery() {
        assert_eq!(judge(NOW, Some(NOW - 1_000), None, None), Health::Healthy);
        assert_eq!(
            judge(NOW, Some(NOW - 1_000), Some(NOW - 60_000), None),
            Health::Healthy,
            "an old error alone"
        );
        assert_eq!(
            judge(NOW, Some(NOW - 1_000), Some(NOW - 2_000), Some(NOW - 1_500)),
            Health::Healthy,
            "delivered since the error"
        );
        assert!(matches!(
            judge(NOW, Some(NOW - 1_000), Some(NOW - 1_000), Some(NOW - 5_000)),
            Health::Unhealthy(_)
        ));
        assert!(matches!(
            judge(NOW, Some(NOW - 61_000), None, None),
            Health::Unhealthy(_)
        ));
        assert!(matches!(judge(NOW, None, None, None), Health::Unhealthy(_)));
    }
}
