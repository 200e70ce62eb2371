//! The optional Prometheus endpoint: counters kept in memory by delivery, gauges read from the
//! database when scraped, and a plain `/healthz`.

mod registry;
mod server;

pub use registry::Metrics;
pub use server::serve;
