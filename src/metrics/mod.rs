//! The optional Prometheus endpoint: counters kept in memory by delivery (`registry`), figures
//! read from the database at most every few seconds through cheap indexed counts (`gauges`),
//! `/healthz` judged from the delivery loop's heartbeat and last round error (`health`), and the
//! HTTP listener (`server`).

mod gauges;
mod health;
mod registry;
mod server;

pub use gauges::{COUNTS, COUNTS_FOR, OLDEST_UNFINISHED};
pub use health::{ERROR_WINDOW_MS, HEARTBEAT_LIMIT_MS};
pub use registry::Metrics;
pub use server::{HEADER_READ_TIMEOUT, serve};
