//! The delivery loop as the simulation drives it: rounds one after another while they find rows
//! (in one lane or two), what each round reports, and a crash that drops the loop after a number
//! of polls, as a killed process stops wherever it is.

use super::Daemon;
use profile_outbox::delivery::BatchReport;
use profile_outbox::outbox;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;

/// Rounds one delivery step may run while every round finds rows (the loop would go on).
const ROUNDS_PER_STEP: usize = 15;

/// Counts kept while a history runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub rounds: u64,
    pub round_errors: u64,
    pub last_round_error: Option<String>,
    pub crashes: u64,
    pub restarts: u64,
    pub refused_inserts: u64,
    pub admin_changes: u64,
    /// Rounds that claimed rows while no request went out and no row finished, per simulated
    /// second.
    pub idle_claims: HashMap<i64, u32>,
    /// The shortest wait the last rounds asked for (quota spent, delivery paused).
    pub wait_ms: Option<i64>,
}

/// Runs the loop's rounds until one finds nothing, as `Deliverer::run`'s lanes do: a round that
/// claimed rows is followed at once by another. An error hands rows back as the loop does.
pub(super) async fn rounds(
    daemon: &Daemon,
    lanes: u8,
    stats: &RefCell<Stats>,
    stop: &CancellationToken,
) {
    let deliverer = &daemon.deliverer;
    for _ in 0..ROUNDS_PER_STEP {
        let results = if lanes >= 2 {
            let (a, b) = tokio::join!(deliverer.run_once(stop), deliverer.run_once(stop));
            vec![a, b]
        } else {
            vec![deliverer.run_once(stop).await]
        };
        let now = deliverer.timeline().now_ms();
        let mut claimed = 0;
        let mut failed = false;
        for result in results {
            match result {
                Ok(report) => {
                    claimed += report.claimed;
                    note(stats, now, &report);
                }
                Err(e) => {
                    let mut stats = stats.borrow_mut();
                    stats.round_errors += 1;
                    stats.last_round_error = Some(format!("{e:#}"));
                    failed = true;
                }
            }
        }
        if failed {
            // As the loop does after a failed round: rows it left in flight go back to pending.
            let _ = outbox::release_in_flight(&daemon.delivery_pool, now).await;
            return;
        }
        if claimed == 0 {
            return;
        }
    }
}

fn note(stats: &RefCell<Stats>, now: i64, report: &BatchReport) {
    let mut stats = stats.borrow_mut();
    stats.rounds += 1;
    if report.claimed > 0 && report.requests == 0 && report.delivered == 0 && report.failed == 0 {
        *stats.idle_claims.entry(now.div_euclid(1_000)).or_default() += 1;
    }
    if let Some(wait) = report.wait {
        let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        stats.wait_ms = Some(stats.wait_ms.map_or(wait, |w| w.min(wait)));
    }
}

/// A future that is dropped, like a killed process, after `polls_left` polls. Resolves to
/// whether the inner future finished.
pub(super) struct CrashAfter<'a> {
    pub(super) inner: Pin<Box<dyn Future<Output = ()> + 'a>>,
    pub(super) polls_left: Option<u32>,
}

impl Future for CrashAfter<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if let Some(left) = self.polls_left {
            if left == 0 {
                return Poll::Ready(false);
            }
            self.polls_left = Some(left - 1);
        }
        self.inner.as_mut().poll(cx).map(|()| true)
    }
}
