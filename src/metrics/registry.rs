//! Every figure `/metrics` shows, in one `prometheus-client` registry that writes Prometheus'
//! OpenMetrics text: the counters and the request-latency histogram, updated by delivery as
//! requests are answered, and the gauges read from the database at each scrape (`gauges`).

use super::gauges::Readings;
use crate::adobe::Outcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Outcome classes, each shown from the start (at 0), so a rate over any of them is defined.
const CLASSES: [&str; 5] = [
    "delivered",
    "slow_down",
    "endpoint_down",
    "unauthorized",
    "rejected",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// What delivery has done since start, and the database's figures as last read.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<ClassLabel, Counter>,
    rows_delivered: Counter,
    rows_failed: Counter,
    request_seconds: Histogram,
    rows: Family<StateLabel, Gauge>,
    oldest_pending_seconds: Gauge<f64, AtomicU64>,
    quota_calls_in_window: Gauge,
    quota_left: Gauge,
    /// Held while a scrape sets the database gauges and writes the page, so two scrapes at once
    /// never write a page mixing their readings.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<ClassLabel, Counter>::default();
        for class in CLASSES {
            drop(requests.get_or_create(&ClassLabel { class }));
        }
        let metrics = Metrics {
            registry: Registry::default(),
            requests,
            rows_delivered: Counter::default(),
            rows_failed: Counter::default(),
            request_seconds: Histogram::new(LATENCY_BOUNDS),
            rows: Family::default(),
            oldest_pending_seconds: Gauge::default(),
            quota_calls_in_window: Gauge::default(),
            quota_left: Gauge::default(),
            scrape: Mutex::new(()),
        };
        metrics.registered()
    }
}

impl Metrics {
    /// Registers every figure under the names README lists (counters get `_total` from the
    /// encoder), in the order the page shows them.
    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "profile_outbox_requests",
            "Requests to Target by class of answer",
            self.requests.clone(),
        );
        r.register(
            "profile_outbox_rows_delivered",
            "Rows recorded delivered",
            self.rows_delivered.clone(),
        );
        r.register(
            "profile_outbox_rows_failed",
            "Rows set aside as failed",
            self.rows_failed.clone(),
        );
        r.register(
            "profile_outbox_request_seconds",
            "Time from sending a request to its answer",
            self.request_seconds.clone(),
        );
        r.register(
            "profile_outbox_rows",
            "Rows in the outbox by state",
            self.rows.clone(),
        );
        r.register(
            "profile_outbox_oldest_pending_seconds",
            "Age of the oldest row not yet delivered",
            self.oldest_pending_seconds.clone(),
        );
        r.register(
            "profile_outbox_quota_calls_in_window",
            "Calls counted in the rolling 24-hour window",
            self.quota_calls_in_window.clone(),
        );
        r.register(
            "profile_outbox_quota_left",
            "Calls left in the rolling 24-hour window",
            self.quota_left.clone(),
        );
        self
    }

    /// Counts one answered request and its latency.
    pub fn observe_request(&self, outcome: &Outcome, elapsed: Duration) {
        let class = match outcome {
            Outcome::Delivered { .. } => CLASSES[0],
            Outcome::SlowDown { .. } => CLASSES[1],
            Outcome::EndpointDown { .. } => CLASSES[2],
            Outcome::Unauthorized { .. } => CLASSES[3],
            Outcome::Rejected { .. } => CLASSES[4],
        };
        self.requests.get_or_create(&ClassLabel { class }).inc();
        self.request_seconds.observe(elapsed.as_secs_f64());
    }

    /// Counts rows recorded delivered and rows set aside as failed.
    pub fn rows_recorded(&self, delivered: usize, failed: usize) {
        self.rows_delivered.inc_by(delivered as u64);
        self.rows_failed.inc_by(failed as u64);
    }

    /// The page: every figure, with the database's `readings`, in the OpenMetrics text format;
    /// `more` (figures of other registries, such as the quota pool's, without their `# EOF`) goes
    /// before the page's end.
    pub fn page(&self, readings: &Readings, more: &str) -> Result<String, std::fmt::Error> {
        let _one_scrape = self
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (state, count) in &readings.rows {
            self.rows.get_or_create(&StateLabel { state }).set(*count);
        }
        self.oldest_pending_seconds
            .set(readings.oldest_pending_seconds);
        self.quota_calls_in_window.set(readings.quota_used);
        self.quota_left.set(readings.quota_left);
        let mut text = String::new();
        encode_registry(&mut text, &self.registry)?;
        // Shown only once the loop has saved a heartbeat: a 0 before then would read as healthy.
        let mut heartbeat = Registry::default();
        known_seconds(
            &mut heartbeat,
            "profile_outbox_heartbeat_age_seconds",
            "Seconds since the delivery loop last saved its heartbeat (it saves one every second while it runs)",
            readings.heartbeat_age_seconds,
        );
        encode_registry(&mut text, &heartbeat)?;
        text.push_str(more);
        encode_eof(&mut text)?;
        Ok(text)
    }
}

/// Registers a gauge of a whole number when its value is known: a figure not known yet is left
/// out rather than shown as 0.
pub(crate) fn known_count(registry: &mut Registry, name: &str, help: &str, value: Option<i64>) {
    if let Some(value) = value {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        registry.register(name, help, gauge);
    }
}

/// Registers a gauge of seconds (an age, or a time since 1970) when its value is known.
pub(crate) fn known_seconds(registry: &mut Registry, name: &str, help: &str, value: Option<f64>) {
    if let Some(value) = value {
        let gauge = Gauge::<f64, AtomicU64>::default();
        gauge.set(value);
        registry.register(name, help, gauge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_class_and_latency_lands_in_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.observe_request(
            &Outcome::Delivered { status: 200 },
            Duration::from_millis(3),
        );
        metrics.observe_request(
            &Outcome::Unauthorized { status: 401 },
            Duration::from_millis(300),
        );
        let text = metrics.page(&Readings::default(), "").expect("page");
        assert!(
            text.contains("profile_outbox_requests_total{class=\"delivered\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("profile_outbox_requests_total{class=\"unauthorized\"} 1\n"));
        assert!(text.contains("profile_outbox_requests_total{class=\"rejected\"} 0\n"));
        assert!(text.contains("profile_outbox_request_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("profile_outbox_request_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(text.contains("profile_outbox_request_seconds_count 2\n"));
    }
}
