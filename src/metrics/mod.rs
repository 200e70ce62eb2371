//! The optional Prometheus endpoint: one `prometheus-client` registry (`registry`) of the counters
//! delivery keeps in memory and the figures read from the database at each scrape (`gauges`, from
//! the queue's one source, `outbox::figures`),
//! `/healthz` judged from the delivery loop's heartbeat and last round error (`health`), and the
//! HTTP listener (`server`).

mod gauges;
mod health;
mod registry;
mod server;

pub use health::{ERROR_WINDOW_MS, HEARTBEAT_LIMIT_MS};
pub use registry::Metrics;
pub(crate) use registry::{known_count, known_seconds};
pub use server::{HEADER_READ_TIMEOUT, render_page, serve};
