//! systemd's watchdog: pings it while the delivery loop's heartbeat is fresh, on a timer of its
//! own, so pings do not wait for a round to end (a round with slow answers can outlast the
//! watchdog's interval) and stop when the loop is stuck.

use super::run::notify;
use crate::delivery::Heartbeat;
use crate::systemd::Notifier;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Starts the pinging task when systemd asked for a watchdog. A beat older than `every` (half
/// the interval systemd allows) stops the pings: the loop beats at least once a second while
/// waiting, and after every answer, which comes within `target.timeout`.
pub fn spawn(notifier: Arc<Mutex<Notifier>>, heartbeat: Arc<Heartbeat>, stop: CancellationToken) {
    let Some(every) = notifier.lock().ok().and_then(|n| n.watchdog_every()) else {
        return;
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(tick(every));
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            if heartbeat.is_fresh(every) {
                notify(&notifier, Notifier::alive);
            } else {
                tracing::warn!(
                    silent_for = ?heartbeat.age(),
                    "the delivery loop has not moved for a while; not telling systemd it is alive"
                );
            }
        }
    });
}

/// Looks twice per ping interval, so a ping is never late by more than half of it.
fn tick(every: Duration) -> Duration {
    (every / 2).max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pings a watchdog of 400 ms (so pinged every 200 ms) receives in `span`, starting after
    /// `after`, while `beating` says whether the loop keeps beating.
    async fn pings(beating: bool, after: Duration, span: Duration) -> usize {
        let (notifier, sent) = Notifier::recording(true, Some(Duration::from_millis(400)));
        let heartbeat = Arc::new(Heartbeat::default());
        heartbeat.beat();
        let stop = CancellationToken::new();
        spawn(
            Arc::new(Mutex::new(notifier)),
            heartbeat.clone(),
            stop.clone(),
        );
        let beats = tokio::spawn(async move {
            if beating {
                loop {
                    heartbeat.beat();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        tokio::time::sleep(after).await;
        let count = || {
            sent.lock()
                .map(|s| s.iter().filter(|m| *m == "WATCHDOG=1").count())
                .unwrap_or(0)
        };
        let before = count();
        tokio::time::sleep(span).await;
        let count = count() - before;
        stop.cancel();
        beats.abort();
        count
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_beating_loop_keeps_the_pings_coming_and_a_stuck_one_stops_them() {
        let span = Duration::from_millis(1_500);
        let alive = pings(true, Duration::from_millis(600), span).await;
        assert!(alive >= 3, "{alive} pings from a live loop");
        let stuck = pings(false, Duration::from_millis(600), span).await;
        assert_eq!(stuck, 0, "pings from a loop silent for 600 ms");
    }
}
