//! Serves `/metrics` and `/healthz` over HTTP/1 on the configured (loopback) address. Each
//! connection must send its request headers within [`HEADER_READ_TIMEOUT`], so an idle or slow
//! client cannot hold connections open. Database errors are logged, never sent to the client.

use super::Metrics;
use super::gauges;
use super::health::{self, Health};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sqlx::SqlitePool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a connection may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the client reads when the database cannot be read.
const UNAVAILABLE: &str =
    "metrics unavailable: the database cannot be read; see the daemon's log\n";

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
    let listener = TcpListener::bind(address).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {address} for metrics (metrics.listen): {e}")
    })?;
    let bound = listener.local_addr()?;
    let shared = Shared { pool, metrics };
    tokio::spawn(accept(listener, router(shared), stop));
    Ok(bound)
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .with_state(shared)
}

/// Accepts connections until `stop`, each served with the header-read timeout.
async fn accept(listener: TcpListener, app: Router, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "the metrics endpoint cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                served = connection => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "a metrics connection ended with an error");
                    }
                }
            }
        });
    }
}

async fn healthz(State(shared): State<Shared>) -> (StatusCode, &'static str) {
    let now_ms = crate::clock::Clock::System.wall_ms();
    match health::health(&shared.pool, now_ms).await {
        Ok(Health::Healthy) => (StatusCode::OK, "ok\n"),
        Ok(Health::Unhealthy(why)) => (StatusCode::SERVICE_UNAVAILABLE, why),
        Err(e) => {
            tracing::warn!(error = %e, "/healthz cannot read the database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

/// The content type of the OpenMetrics text `prometheus-client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics_page(
    State(shared): State<Shared>,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let now_ms = crate::clock::Clock::System.wall_ms();
    match render_page(&shared.pool, &shared.metrics, now_ms).await {
        Ok(page) => (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], page),
        Err(e) => {
            tracing::warn!(error = %e, "/metrics cannot read the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                UNAVAILABLE.to_owned(),
            )
        }
    }
}

/// What one scrape answers: the database's figures read at `now_ms` (wall clock), nothing cached,
/// with delivery's counters.
pub async fn render_page(
    pool: &SqlitePool,
    metrics: &Metrics,
    now_ms: i64,
) -> anyhow::Result<String> {
    let readings = gauges::read(pool, now_ms).await?;
    let mut pool_gauges = String::new();
    crate::quota::pool::render_metrics(pool, &mut pool_gauges).await?;
    Ok(metrics.page(&readings, &pool_gauges)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database(dir: &std::path::Path) -> SqlitePool {
        crate::db::scratch::migrated(dir).await
    }

    fn shared(pool: SqlitePool) -> Shared {
        Shared {
            pool,
            metrics: Arc::new(Metrics::default()),
        }
    }

    #[tokio::test]
    async fn a_database_error_answers_503_with_a_plain_line_and_no_database_text() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        pool.close().await;

        let (status, _, body) = metrics_page(State(shared(pool.clone()))).await;
        let (health_status, health_body) = healthz(State(shared(pool))).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, UNAVAILABLE);
        assert_eq!(health_status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(health_body, "database unavailable\n");
    }

    /// Every sample name the page had before it was written by `prometheus-client`: alert rules
    /// and dashboards use them.
    const NAMES: [&str; 13] = [
        "profile_outbox_requests_total{class=\"delivered\"}",
        "profile_outbox_requests_total{class=\"rejected\"}",
        "profile_outbox_rows_delivered_total",
        "profile_outbox_rows_failed_total",
        "profile_outbox_request_seconds_bucket{le=\"+Inf\"}",
        "profile_outbox_request_seconds_sum",
        "profile_outbox_request_seconds_count",
        "profile_outbox_rows{state=\"pending\"}",
        "profile_outbox_rows{state=\"in_flight\"}",
        "profile_outbox_rows{state=\"cancelled\"}",
        "profile_outbox_oldest_pending_seconds",
        "profile_outbox_quota_calls_in_window",
        "profile_outbox_quota_left",
    ];

    fn value(page: &str, name: &str) -> Option<f64> {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    }

    #[tokio::test]
    async fn every_scrape_reads_the_figures_afresh_under_the_names_alerts_use() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        let shared = shared(pool.clone());
        let insert =
            "INSERT INTO outbox (mbox_pc, attributes, created_at) VALUES ('1-1.01_00', '{}', ?1)";
        let now = crate::clock::Clock::System.wall_ms();

        let (status, headers, before) = metrics_page(State(shared.clone())).await;
        sqlx::query(insert)
            .bind(now - 90_000)
            .execute(&pool)
            .await
            .expect("row added");
        let (_, _, after) = metrics_page(State(shared)).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[0].1, OPENMETRICS);
        for name in NAMES {
            assert!(value(&before, name).is_some(), "{name} missing:\n{before}");
        }
        assert!(before.ends_with("# EOF\n"), "{before}");
        assert_eq!(value(&before, NAMES[7]), Some(0.0));
        assert_eq!(value(&after, NAMES[7]), Some(1.0), "{after}");
        let age = value(&after, "profile_outbox_oldest_pending_seconds").unwrap_or_default();
        assert!((90.0..120.0).contains(&age), "{after}");
    }

    #[tokio::test]
    async fn the_heartbeat_age_is_shown_once_the_loop_has_saved_a_heartbeat() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        let now = crate::clock::Clock::System.wall_ms();
        let name = "profile_outbox_heartbeat_age_seconds";

        let (_, _, before) = metrics_page(State(shared(pool.clone()))).await;
        sqlx::query(
            "INSERT INTO daemon_state (id, timeline_ms, wall_ms, boot_id, boot_ms, heartbeat_at)
             VALUES (1, 0, ?1, 'boot', 0, ?1)",
        )
        .bind(now - 75_000)
        .execute(&pool)
        .await
        .expect("state saved");
        let (_, _, stale) = metrics_page(State(shared(pool))).await;

        assert_eq!(value(&before, name), None, "{before}");
        let age = value(&stale, name).unwrap_or_default();
        assert!((75.0..105.0).contains(&age), "{stale}");
        assert!(stale.ends_with("# EOF\n"), "{stale}");
    }

    #[tokio::test]
    async fn healthz_is_unhealthy_while_rounds_fail_and_healthy_once_a_round_delivers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        let now = crate::clock::Clock::System.wall_ms();
        sqlx::query(
            "INSERT INTO daemon_state (id, timeline_ms, wall_ms, boot_id, boot_ms, heartbeat_at,
                 last_error, last_error_at)
             VALUES (1, 0, ?1, 'boot', 0, ?1, 'delivery round failed: disk I/O error', ?1)",
        )
        .bind(now)
        .execute(&pool)
        .await
        .expect("state saved");

        let failing = healthz(State(shared(pool.clone()))).await;
        sqlx::query("UPDATE daemon_state SET last_delivery_at = ?1")
            .bind(now + 1)
            .execute(&pool)
            .await
            .expect("a delivery saved");
        let delivering = healthz(State(shared(pool))).await;

        assert_eq!(failing.0, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!failing.1.contains("disk I/O"), "{}", failing.1);
        assert_eq!(delivering, (StatusCode::OK, "ok\n"));
    }

    #[tokio::test]
    async fn a_client_that_never_sends_its_headers_is_disconnected() {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        let stop = CancellationToken::new();
        let address = serve(
            "127.0.0.1:0".parse().expect("address"),
            pool,
            Arc::new(Metrics::default()),
            stop.clone(),
        )
        .await
        .expect("serves");
        let mut silent = tokio::net::TcpStream::connect(address)
            .await
            .expect("connects");

        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(HEADER_READ_TIMEOUT * 4, silent.read(&mut buf)).await;
        stop.cancel();

        assert!(
            matches!(closed, Ok(Ok(_) | Err(_))),
            "the server kept a silent connection open past {:?}",
            HEADER_READ_TIMEOUT * 4
        );
    }
}
