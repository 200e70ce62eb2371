//! A fast loopback stand-in for Target: an axum server on 127.0.0.1 answering every profile update
//! with Target's success body, on its own tokio runtime (threads named `stand-in`, so its CPU
//! share can be read from /proc). It counts requests with an atomic and, when asked, notes when
//! each update carrying a `profile.seq` attribute arrived, for the latency figure.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use profile_outbox::adobe::SUCCESS_BODY;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;
use url::Url;

/// The name of the stand-in's threads (at most 15 bytes: Linux truncates thread names).
pub const THREAD_NAME: &str = "stand-in";

/// Whether the stand-in reports arrivals.
pub enum Arrivals {
    /// Count only: the fastest answer.
    Ignore,
    /// Also send `(seq, arrival time)` for every request carrying `profile.seq`.
    Report(mpsc::UnboundedSender<(u64, Instant)>),
}

struct Shared {
    requests: AtomicU64,
    arrivals: Option<mpsc::UnboundedSender<(u64, Instant)>>,
}

/// A running stand-in; it stops when dropped.
pub struct StandIn {
    pub base_url: Url,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StandIn {
    /// Starts the stand-in with `threads` worker threads of its own.
    pub fn start(threads: usize, arrivals: Arrivals) -> anyhow::Result<StandIn> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            requests: AtomicU64::new(0),
            arrivals: match arrivals {
                Arrivals::Ignore => None,
                Arrivals::Report(sender) => Some(sender),
            },
        });
        // Bound here, served on the stand-in's runtime: `block_on` is not allowed inside the
        // benchmark's own runtime.
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let app = Router::new()
            .route("/m2/{client}/profile/update", get(answer))
            .with_state(shared.clone());
        runtime.spawn(async move {
            let served = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => axum::serve(listener, app).await,
                Err(e) => Err(e),
            };
            if let Err(e) = served {
                eprintln!("stand-in stopped: {e}");
            }
        });
        Ok(StandIn {
            base_url: Url::parse(&format!("http://{address}"))?,
            shared,
            runtime: Some(runtime),
        })
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        // Not `drop(runtime)`: that blocks, which tokio forbids inside the benchmark's runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn answer(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> &'static str {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(sender) = &shared.arrivals {
        let arrived = Instant::now();
        if let Some(seq) = query.as_deref().and_then(sequence_number) {
            let _ = sender.send((seq, arrived));
        }
    }
    SUCCESS_BODY
}

/// The value of `profile.seq` in a query string.
fn sequence_number(query: &str) -> Option<u64> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "profile.seq")
        .and_then(|(_, value)| value.parse().ok())
}
