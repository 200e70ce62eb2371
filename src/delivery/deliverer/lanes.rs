//! The delivery loop: two lanes of rounds while a backlog drains, one when idle, and what a
//! failed round leaves behind (its error, and its rows handed back once no round is running).

use super::{BatchReport, Deliverer};
use crate::delivery::Allowance;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

impl Deliverer {
    /// Delivers until `stop` is cancelled. Requests in flight then get `workers.shutdown_deadline`
    /// to finish; rows not sent go back to pending. The loop beats its [`Heartbeat`] as it goes,
    /// so a caller can tell it is alive (systemd's watchdog) without waiting for a round to end.
    ///
    /// The first lane polls for work; the second joins in only while the first finds a backlog,
    /// so an idle daemon makes one poll per `workers.poll_interval`.
    pub async fn run(&self, stop: &CancellationToken) {
        let backlog = Notify::new();
        tokio::join!(
            self.first_lane(stop, &backlog),
            self.second_lane(stop, &backlog),
        );
    }

    /// Rounds one after another, pausing when there is nothing to do; wakes the second lane
    /// whenever a round found rows.
    async fn first_lane(&self, stop: &CancellationToken, backlog: &Notify) {
        let mut errors: u32 = 0;
        while !stop.is_cancelled() {
            if self.release_pending.load(Ordering::SeqCst) {
                self.release_after_error().await;
            }
            let pause = match self.round(stop).await {
                Ok(report) => {
                    errors = 0;
                    if report.claimed > 0 {
                        log_batch(&report);
                        backlog.notify_one();
                        continue;
                    }
                    rest_after(Ok(&report), self.workers.poll_interval)
                }
                Err(e) => {
                    errors = errors.saturating_add(1);
                    self.round_failed(&e).await;
                    rest_after(Err(errors), self.workers.poll_interval)
                }
            };
            self.rest(pause, stop).await;
        }
    }

    /// Sleeps for `pause`, or until `stop`, beating the heartbeat every second meanwhile: a
    /// pause is the loop doing its job.
    async fn rest(&self, pause: Duration, stop: &CancellationToken) {
        let until = Instant::now() + pause;
        loop {
            self.heartbeat.beat();
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Rounds alongside the first lane while it finds rows, at full speed only: after a pause
    /// the single probe request is the first lane's. Returns to waiting when a round finds
    /// nothing or fails (the first lane takes care of pauses and errors).
    async fn second_lane(&self, stop: &CancellationToken, backlog: &Notify) {
        loop {
            tokio::select! {
                () = backlog.notified() => {}
                () = stop.cancelled() => return,
            }
            while !stop.is_cancelled() && self.sender.allowance() == Allowance::Open {
                match self.round(stop).await {
                    Ok(report) if report.claimed > 0 => log_batch(&report),
                    Ok(_) => break,
                    Err(e) => {
                        self.round_failed(&e).await;
                        break;
                    }
                }
            }
        }
    }

    /// One round of the loop: `run_once`, marked as in progress for `release_after_error`.
    async fn round(&self, stop: &CancellationToken) -> anyhow::Result<BatchReport> {
        let _in_progress = self.rounds.read().await;
        self.run_once(stop).await
    }

    /// Logs a failed round, keeps its error for the visible state, and hands its rows back.
    async fn round_failed(&self, error: &anyhow::Error) {
        let error = format!("{error:#}");
        tracing::error!(error, "delivery round failed; retrying");
        if let Ok(mut last) = self.round_error.lock() {
            *last = Some(format!("delivery round failed: {error}"));
        }
        self.release_after_error().await;
    }

    /// After a database error mid-round, rows of that round may still be `in_flight`. This daemon
    /// holds the instance lock, and waits here until the other lane's round is recorded, so every
    /// row still in flight is one nobody is sending: it can safely hand them back. When the
    /// database refuses even that (a full disk), the first lane tries again before its next round.
    async fn release_after_error(&self) {
        let _no_round_in_progress = self.rounds.write().await;
        match self.store.release_in_flight(self.timeline.now_ms()).await {
            Ok(_) => self.release_pending.store(false, Ordering::SeqCst),
            Err(e) => {
                self.release_pending.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "cannot hand rows back to pending yet; trying again");
            }
        }
    }
}

/// How long the first lane rests after a round that claimed nothing (`Ok`), or after the
/// `errors`th failed round in a row (`Err`).
///
/// After a quiet round: the poll interval, or the wait the round asked for, but at most a second,
/// to keep the visible state fresh while paused (a look that finds nothing to do is a few reads).
/// After failed rounds: from 100 ms, doubling, up to 30 s, so a database that keeps failing (a
/// full disk) is not hammered nor the log flooded with one error a second.
fn rest_after(round: Result<&BatchReport, u32>, poll: Duration) -> Duration {
    match round {
        Ok(report) => report.wait.unwrap_or(poll).min(Duration::from_secs(1)),
        Err(errors) => crate::delivery::backoff(
            Duration::from_millis(100),
            Duration::from_secs(30),
            errors,
            rand::random(),
        ),
    }
}

fn log_batch(report: &BatchReport) {
    tracing::info!(
        delivered = report.delivered,
        retried = report.retried,
        failed = report.failed,
        handed_back = report.handed_back,
        requests = report.requests,
        "batch recorded"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_rounds_back_off_to_30_seconds_while_quiet_ones_look_again_within_a_second() {
        let poll = Duration::from_millis(50);
        assert!(rest_after(Err(1), poll) <= Duration::from_millis(100));
        assert!(rest_after(Err(10), poll) >= Duration::from_secs(15));
        assert!(rest_after(Err(50), poll) <= Duration::from_secs(30));
        let paused = BatchReport {
            wait: Some(Duration::from_secs(3_600)),
            ..BatchReport::default()
        };
        assert_eq!(rest_after(Ok(&paused), poll), Duration::from_secs(1));
        assert_eq!(rest_after(Ok(&BatchReport::default()), poll), poll);
    }
}
