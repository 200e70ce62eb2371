//! Serves `/metrics` and `/healthz` over HTTP/1 on the configured (loopback) address. Each
//! connection must send its request headers within [`HEADER_READ_TIMEOUT`], so an idle or slow
//! client cannot hold connections open. Database errors are logged, never sent to the client.

use super::Metrics;
use super::gauges::{self, Gauges};
use super::health::{self, Health};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
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
    gauges: Arc<Gauges>,
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
    let shared = Shared {
        pool,
        metrics,
        gauges: Arc::new(Gauges::default()),
    };
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

async fn metrics_page(State(shared): State<Shared>) -> (StatusCode, String) {
    let mut text = String::new();
    shared.metrics.render(&mut text);
    let now_ms = crate::clock::Clock::System.wall_ms();
    let read = match shared.gauges.rows(&shared.pool).await {
        Ok(figures) => gauges::render(&figures, &shared.pool, now_ms, &mut text).await,
        Err(e) => Err(e),
    };
    let read = match read {
        Ok(()) => crate::quota::pool::render_metrics(&shared.pool, &mut text).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(()) => (StatusCode::OK, text),
        Err(e) => {
            tracing::warn!(error = %e, "/metrics cannot read the database");
            (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE.to_owned())
        }
    }
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
            gauges: Arc::new(Gauges::default()),
        }
    }

    #[tokio::test]
    async fn a_database_error_answers_503_with_a_plain_line_and_no_database_text() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = database(dir.path()).await;
        pool.close().await;

        let (status, body) = metrics_page(State(shared(pool.clone()))).await;
        let (health_status, health_body) = healthz(State(shared(pool))).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, UNAVAILABLE);
        assert_eq!(health_status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(health_body, "database unavailable\n");
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
