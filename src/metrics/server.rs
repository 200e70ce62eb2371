//! Serves `/metrics` and `/healthz` over HTTP on the configured (loopback) address.

use super::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::{Row, SqlitePool};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Shared {
    pool: SqlitePool,
    metrics: Arc<Metrics>,
}

/// Binds `address` and serves until `stop` is cancelled. Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    pool: SqlitePool,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {address} for metrics (metrics.listen): {e}")
    })?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .with_state(Shared { pool, metrics });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(bound)
}

async fn healthz(State(shared): State<Shared>) -> (StatusCode, &'static str) {
    match sqlx::query("SELECT 1").execute(&shared.pool).await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

async fn metrics_page(State(shared): State<Shared>) -> (StatusCode, String) {
    let mut text = String::new();
    shared.metrics.render(&mut text);
    match database_gauges(&shared.pool, &mut text).await {
        Ok(()) => (StatusCode::OK, text),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the database: {e}\n"),
        ),
    }
}

/// Gauges read from the database at scrape time, so they always match it.
async fn database_gauges(pool: &SqlitePool, out: &mut String) -> sqlx::Result<()> {
    let counts = sqlx::query("SELECT state, count(*) FROM outbox GROUP BY state")
        .fetch_all(pool)
        .await?;
    let _ = writeln!(
        out,
        "# HELP profile_outbox_rows Rows in the outbox by state."
    );
    let _ = writeln!(out, "# TYPE profile_outbox_rows gauge");
    for state in crate::outbox::State::ALL {
        let count = counts
            .iter()
            .find(|r| r.try_get::<String, _>(0).is_ok_and(|s| s == state.as_str()))
            .and_then(|r| r.try_get::<i64, _>(1).ok())
            .unwrap_or(0);
        let _ = writeln!(out, "profile_outbox_rows{{state=\"{state}\"}} {count}");
    }
    let oldest: Option<i64> = sqlx::query_scalar(
        "SELECT min(created_at) FROM outbox INDEXED BY outbox_visitor_unfinished
         WHERE state IN ('pending', 'in_flight')",
    )
    .fetch_one(pool)
    .await?;
    let now_ms = crate::clock::Clock::System.wall_ms();
    let age = oldest.map_or(0.0, |created| (now_ms - created).max(0) as f64 / 1000.0);
    let _ = writeln!(
        out,
        "# HELP profile_outbox_oldest_pending_seconds Age of the oldest row not yet delivered."
    );
    let _ = writeln!(out, "# TYPE profile_outbox_oldest_pending_seconds gauge");
    let _ = writeln!(out, "profile_outbox_oldest_pending_seconds {age}");
    let quota = sqlx::query("SELECT coalesce(calls_in_window, 0), coalesce(quota_limit, 0) FROM daemon_state WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    let (used, limit): (i64, i64) = quota.map_or((0, 0), |r| {
        (r.try_get(0).unwrap_or(0), r.try_get(1).unwrap_or(0))
    });
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
