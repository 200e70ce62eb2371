//! Counters and the request-latency histogram, updated by delivery as requests are answered, and
//! written out in Prometheus' text format.

use crate::adobe::Outcome;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Outcome classes, in the order of `Metrics::answers`.
const CLASSES: [&str; 5] = [
    "delivered",
    "slow_down",
    "endpoint_down",
    "unauthorized",
    "rejected",
];

/// What delivery has done since start.
#[derive(Debug, Default)]
pub struct Metrics {
    answers: [AtomicU64; 5],
    rows_failed: AtomicU64,
    rows_delivered: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

impl Metrics {
    /// Counts one answered request and its latency.
    pub fn observe_request(&self, outcome: &Outcome, elapsed: Duration) {
        let class = match outcome {
            Outcome::Delivered { .. } => 0,
            Outcome::SlowDown { .. } => 1,
            Outcome::EndpointDown { .. } => 2,
            Outcome::Unauthorized { .. } => 3,
            Outcome::Rejected { .. } => 4,
        };
        self.answers[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts rows recorded delivered and rows set aside as failed.
    pub fn rows_recorded(&self, delivered: usize, failed: usize) {
        self.rows_delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        self.rows_failed.fetch_add(failed as u64, Ordering::Relaxed);
    }

    /// Appends the counters and the histogram in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP profile_outbox_requests_total Requests to Target by class of answer."
        );
        let _ = writeln!(out, "# TYPE profile_outbox_requests_total counter");
        for (class, count) in CLASSES.iter().zip(&self.answers) {
            let _ = writeln!(
                out,
                "profile_outbox_requests_total{{class=\"{class}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP profile_outbox_rows_delivered_total Rows recorded delivered."
        );
        let _ = writeln!(out, "# TYPE profile_outbox_rows_delivered_total counter");
        let _ = writeln!(
            out,
            "profile_outbox_rows_delivered_total {}",
            self.rows_delivered.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP profile_outbox_rows_failed_total Rows set aside as failed."
        );
        let _ = writeln!(out, "# TYPE profile_outbox_rows_failed_total counter");
        let _ = writeln!(
            out,
            "profile_outbox_rows_failed_total {}",
            self.rows_failed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP profile_outbox_request_seconds Time from sending a request to its answer."
        );
        let _ = writeln!(out, "# TYPE profile_outbox_request_seconds histogram");
        for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "profile_outbox_request_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "profile_outbox_request_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "profile_outbox_request_seconds_sum {sum}");
        let _ = writeln!(out, "profile_outbox_request_seconds_count {count}");
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
        let mut text = String::new();
        metrics.render(&mut text);
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
