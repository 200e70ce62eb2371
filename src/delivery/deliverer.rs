//! The unit of work (claim, send and record one batch) and the loop that repeats it until
//! shutdown.

use super::{Allowance, Gate, PauseReason, decide, problem_decision};
use crate::clock::Clock;
use crate::config::{RetrySettings, Settings, WorkerSettings};
use crate::outbox::{self, ClaimedRow, Decision, RowResult};
use crate::target::{Endpoint, Outcome, PreparedRequest, ProfileUpdate, TargetClient, prepare};
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sqlx::SqlitePool;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub handed_back: usize,
    /// Requests made.
    pub requests: u32,
    /// Set when the gate is closed: how long until it lets a request through.
    pub wait: Option<Duration>,
}

/// Everything delivery needs, passed in rather than global.
pub struct Deliverer {
    pool: SqlitePool,
    client: TargetClient,
    endpoint: Endpoint,
    limiter: DefaultDirectRateLimiter,
    clock: Clock,
    retry: RetrySettings,
    workers: WorkerSettings,
    gate: Mutex<Gate>,
}

impl Deliverer {
    pub fn new(
        pool: SqlitePool,
        client: TargetClient,
        endpoint: Endpoint,
        settings: &Settings,
        clock: Clock,
    ) -> Self {
        let quota =
            Quota::per_second(settings.quota.max_per_second).allow_burst(settings.quota.burst);
        let retry = settings.retry.clone();
        let gate = Gate::new(retry.initial_delay, retry.max_delay, retry.max_retry_after);
        Deliverer {
            pool,
            client,
            endpoint,
            limiter: RateLimiter::direct(quota),
            clock,
            retry,
            workers: settings.workers.clone(),
            gate: Mutex::new(gate),
        }
    }

    /// Delivers until `stop` is cancelled. Requests in flight then get `workers.shutdown_deadline`
    /// to finish; rows not sent go back to pending.
    pub async fn run(&self, stop: &CancellationToken) {
        let mut errors: u32 = 0;
        while !stop.is_cancelled() {
            let pause = match self.run_once(stop).await {
                Ok(report) => {
                    errors = 0;
                    if report.claimed > 0 {
                        tracing::debug!(?report, "batch recorded");
                        continue;
                    }
                    report.wait.unwrap_or(self.workers.poll_interval)
                }
                Err(e) => {
                    errors = errors.saturating_add(1);
                    tracing::error!(error = format!("{e:#}"), "delivery round failed; retrying");
                    self.release_after_error().await;
                    super::backoff(
                        Duration::from_millis(100),
                        Duration::from_secs(30),
                        errors,
                        rand::random(),
                    )
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => {}
            }
        }
    }

    /// One batch: claim due rows, send them, record every outcome. Tests call this directly.
    pub async fn run_once(&self, stop: &CancellationToken) -> anyhow::Result<BatchReport> {
        let limit = match self.allowance() {
            Allowance::Open => self.workers.batch_size.get(),
            Allowance::Probe => 1,
            Allowance::Wait(wait) => {
                return Ok(BatchReport {
                    wait: Some(wait),
                    ..BatchReport::default()
                });
            }
        };
        let now = self.clock.now_ms();
        if !outbox::has_due(&self.pool, now).await? {
            return Ok(BatchReport::default());
        }
        let rows = outbox::claim(&self.pool, now, limit).await?;
        let concurrency = usize::try_from(self.workers.concurrency.get()).unwrap_or(1);
        let results: Vec<RowResult> = futures_util::stream::iter(rows)
            .map(|row| self.deliver_row(row, stop))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        // Not raced against `stop`: an outcome is recorded whole or the rows stay in flight.
        outbox::record(&self.pool, &results, self.clock.now_ms()).await?;
        Ok(summarize(&results))
    }

    fn allowance(&self) -> Allowance {
        match self.gate.lock() {
            Ok(gate) => gate.allowance(Instant::now()),
            Err(poisoned) => poisoned.into_inner().allowance(Instant::now()),
        }
    }

    async fn deliver_row(&self, row: ClaimedRow, stop: &CancellationToken) -> RowResult {
        let prepared = ProfileUpdate::from_row(
            row.mbox_pc.as_deref(),
            row.mbox_3rd_party_id.as_deref(),
            &row.attributes,
        )
        .and_then(|update| prepare(&self.endpoint, &update));
        let requests = match prepared {
            Ok(requests) => requests,
            Err(problem) => {
                tracing::warn!(row = row.id, reason = %problem, "row set aside as failed before sending");
                return RowResult {
                    id: row.id,
                    requests: 0,
                    decision: problem_decision(&problem, row.attempts),
                };
            }
        };
        let mut sent = 0;
        let mut last = None;
        for request in &requests {
            sent += 1;
            let Some(outcome) = self.send(request, stop).await else {
                return RowResult {
                    id: row.id,
                    requests: sent - 1,
                    decision: Decision::HandBack,
                };
            };
            let delivered = matches!(outcome, Outcome::Delivered { .. });
            last = Some(outcome);
            if !delivered {
                break;
            }
        }
        let Some(outcome) = last else {
            return RowResult {
                id: row.id,
                requests: 0,
                decision: Decision::HandBack,
            };
        };
        let decision = decide(
            &outcome,
            row.attempts,
            &self.retry,
            self.clock.now_ms(),
            rand::random(),
        );
        if let Decision::Failed { reason, .. } = &decision {
            tracing::warn!(row = row.id, reason = %reason, "row set aside as failed");
        }
        RowResult {
            id: row.id,
            requests: sent,
            decision,
        }
    }

    /// Sends one request once the gate and the rate limit allow it. `None` when it was not sent,
    /// or its answer did not come before the shutdown deadline.
    async fn send(&self, request: &PreparedRequest, stop: &CancellationToken) -> Option<Outcome> {
        if stop.is_cancelled() || matches!(self.allowance(), Allowance::Wait(_)) {
            return None;
        }
        tokio::select! {
            () = self.limiter.until_ready() => {}
            () = stop.cancelled() => return None,
        }
        let deadline = async {
            stop.cancelled().await;
            tokio::time::sleep(self.workers.shutdown_deadline).await;
        };
        let outcome = tokio::select! {
            outcome = self.client.send(request) => outcome,
            () = deadline => return None,
        };
        self.observe(&outcome);
        Some(outcome)
    }

    /// Shows an answer to the gate and logs when delivery pauses or resumes.
    fn observe(&self, outcome: &Outcome) {
        let mut gate = match self.gate.lock() {
            Ok(gate) => gate,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !gate.observe(outcome, Instant::now(), rand::random()) {
            return;
        }
        match gate.reason() {
            Some(PauseReason::Unauthorized) => tracing::error!(
                answer = %outcome.describe(),
                "delivery paused: Target refuses the token; replace the file named by target.token_file"
            ),
            Some(reason) => {
                tracing::warn!(reason = reason.as_str(), answer = %outcome.describe(), "delivery paused")
            }
            None => tracing::info!("Target answers again; delivery resumed"),
        }
    }

    /// After a database error mid-round, rows of that round may still be `in_flight`. This daemon
    /// holds the instance lock and runs one round at a time, so it can safely hand them back.
    async fn release_after_error(&self) {
        if let Err(e) = outbox::release_in_flight(&self.pool, self.clock.now_ms()).await {
            tracing::error!(error = %e, "cannot hand rows back to pending; they will be on restart");
        }
    }
}

fn summarize(results: &[RowResult]) -> BatchReport {
    let mut report = BatchReport {
        claimed: results.len(),
        ..BatchReport::default()
    };
    for result in results {
        report.requests += result.requests;
        match result.decision {
            Decision::Delivered { .. } => report.delivered += 1,
            Decision::Retry { .. } => report.retried += 1,
            Decision::Failed { .. } => report.failed += 1,
            Decision::HandBack => report.handed_back += 1,
        }
    }
    report
}
