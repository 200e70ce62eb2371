//! The unit of work (claim, check, reserve quota, send and record one batch) and the loop that
//! repeats it until shutdown.
//!
//! While a backlog drains, the loop keeps two rounds going (two lanes): while one round's requests
//! are out, the other claims its batch or records its outcomes, so the wire does not wait for the
//! database nor a batch for its slowest request. The lanes share one limit on requests in flight
//! (`workers.concurrency`) and take turns at the database's write lock.

use super::{Allowance, CrashPlan, CrashPoint, Gate, PauseReason, Plan};
use crate::clock::Timeline;
use crate::config::{QuotaSettings, RetrySettings, Settings, Token, WorkerSettings};
use crate::housekeeping::WalCheckpointer;
use crate::metrics::Metrics;
use crate::outbox::{self, Decision, RowResult};
use crate::quota::{self, Reservation};
use crate::state::{self, Snapshot};
use crate::target::{Endpoint, Outcome, PreparedRequest, TargetClient};
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sqlx::{SqliteConnection, SqlitePool};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

/// How often an idle or paused daemon refreshes its visible state.
const IDLE_STATE_EVERY_MS: i64 = 1_000;

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Rows claimed.
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub handed_back: usize,
    /// Requests made.
    pub requests: u32,
    /// Set when nothing may be sent now: how long until something may.
    pub wait: Option<Duration>,
    /// The rolling 24-hour quota is spent.
    pub quota_spent: bool,
}

/// What became of one request.
enum Attempt {
    Answered(Outcome),
    /// Held back: shutdown, or the gate closed before its turn.
    Held,
    /// Sent, but the answer did not come before the shutdown deadline.
    Unanswered,
}

/// Everything delivery needs, passed in rather than global.
pub struct Deliverer {
    pool: SqlitePool,
    client: TargetClient,
    endpoint: Endpoint,
    limiter: DefaultDirectRateLimiter,
    timeline: Timeline,
    retry: RetrySettings,
    workers: WorkerSettings,
    quota: QuotaSettings,
    gate: Mutex<Gate>,
    quota_spent: AtomicBool,
    state_saved_at: AtomicI64,
    metrics: Arc<Metrics>,
    crash: Option<CrashPlan>,
    /// Set when rows a failed round left `in_flight` could not be handed back yet.
    release_pending: AtomicBool,
    /// Why the last round failed (a full disk, a lock held too long), for the visible state once
    /// the database takes writes again.
    round_error: Mutex<Option<String>>,
    checkpointer: Option<WalCheckpointer>,
    /// Requests in flight across both lanes, at most `workers.concurrency`.
    in_flight: Semaphore,
    /// Held by this process's write transactions, one at a time, so the lanes queue here rather
    /// than in SQLite's busy handler, which sleeps a millisecond or more per try.
    write_turn: tokio::sync::Mutex<()>,
    /// Read-held by every round of the loop; write-held to hand back rows after an error, which
    /// must wait for the other lane's round so as not to hand back rows it is still sending.
    rounds: RwLock<()>,
}

impl Deliverer {
    pub fn new(
        pool: SqlitePool,
        client: TargetClient,
        endpoint: Endpoint,
        settings: &Settings,
        timeline: Timeline,
    ) -> Self {
        let rate =
            Quota::per_second(settings.quota.max_per_second).allow_burst(settings.quota.burst);
        let retry = settings.retry.clone();
        let gate = Gate::new(retry.initial_delay, retry.max_delay, retry.max_retry_after);
        let concurrency = usize::try_from(settings.workers.concurrency.get()).unwrap_or(1);
        Deliverer {
            pool,
            client,
            endpoint,
            limiter: RateLimiter::direct(rate),
            timeline,
            retry,
            workers: settings.workers.clone(),
            quota: settings.quota.clone(),
            gate: Mutex::new(gate),
            quota_spent: AtomicBool::new(false),
            state_saved_at: AtomicI64::new(i64::MIN),
            metrics: Arc::default(),
            crash: None,
            release_pending: AtomicBool::new(false),
            round_error: Mutex::new(None),
            checkpointer: None,
            in_flight: Semaphore::new(concurrency),
            write_turn: tokio::sync::Mutex::new(()),
            rounds: RwLock::new(()),
        }
    }

    /// Arms the fault suite's crash seam (see [`CrashPlan`]).
    pub fn with_crash_plan(mut self, crash: Option<CrashPlan>) -> Self {
        self.crash = crash;
        self
    }

    fn crash_point(&self, point: CrashPoint) {
        if let Some(plan) = &self.crash {
            plan.reached(point);
        }
    }

    /// Counts requests and rows into `metrics` (by default into counters nobody reads).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Wakes `checkpointer` after every recorded batch (by default, delivery's connection
    /// checkpoints the WAL itself, as SQLite does).
    pub fn with_checkpointer(mut self, checkpointer: WalCheckpointer) -> Self {
        self.checkpointer = Some(checkpointer);
        self
    }

    /// Delivers until `stop` is cancelled. Requests in flight then get `workers.shutdown_deadline`
    /// to finish; rows not sent go back to pending. `on_round` is called after every round that
    /// did not fail, so a caller can tell the loop is alive (systemd's watchdog).
    ///
    /// The first lane polls for work; the second joins in only while the first finds a backlog,
    /// so an idle daemon makes one poll per `workers.poll_interval`.
    pub async fn run(&self, stop: &CancellationToken, on_round: impl FnMut()) {
        let on_round = Mutex::new(on_round);
        let alive = || {
            if let Ok(mut on_round) = on_round.lock() {
                on_round();
            }
        };
        let backlog = Notify::new();
        tokio::join!(
            self.first_lane(stop, &alive, &backlog),
            self.second_lane(stop, &alive, &backlog),
        );
    }

    /// Rounds one after another, pausing when there is nothing to do; wakes the second lane
    /// whenever a round found rows.
    async fn first_lane(&self, stop: &CancellationToken, alive: &impl Fn(), backlog: &Notify) {
        let mut errors: u32 = 0;
        while !stop.is_cancelled() {
            if self.release_pending.load(Ordering::SeqCst) {
                self.release_after_error().await;
            }
            let pause = match self.round(stop).await {
                Ok(report) => {
                    errors = 0;
                    alive();
                    if report.claimed > 0 {
                        log_batch(&report);
                        backlog.notify_one();
                        continue;
                    }
                    report.wait.unwrap_or(self.workers.poll_interval)
                }
                Err(e) => {
                    errors = errors.saturating_add(1);
                    self.round_failed(&e).await;
                    super::backoff(
                        Duration::from_millis(100),
                        Duration::from_secs(30),
                        errors,
                        rand::random(),
                    )
                }
            };
            // Wake at least once a second, to keep the visible state fresh while paused.
            let pause = pause.min(Duration::from_secs(1));
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => {}
            }
        }
    }

    /// Rounds alongside the first lane while it finds rows, at full speed only: after a pause
    /// the single probe request is the first lane's. Returns to waiting when a round finds
    /// nothing or fails (the first lane takes care of pauses and errors).
    async fn second_lane(&self, stop: &CancellationToken, alive: &impl Fn(), backlog: &Notify) {
        loop {
            tokio::select! {
                () = backlog.notified() => {}
                () = stop.cancelled() => return,
            }
            while !stop.is_cancelled()
                && self.gate().allowance(self.timeline.now_ms()) == Allowance::Open
            {
                match self.round(stop).await {
                    Ok(report) if report.claimed > 0 => {
                        alive();
                        log_batch(&report);
                    }
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

    /// One batch. Tests call this directly.
    pub async fn run_once(&self, stop: &CancellationToken) -> anyhow::Result<BatchReport> {
        let now = self.timeline.now_ms();
        let allowance = self.gate().allowance(now);
        let limit = match allowance {
            Allowance::Open => self.batch_limit(),
            Allowance::Probe => 1,
            Allowance::Wait(wait) => {
                self.save_idle_state(now).await?;
                return Ok(BatchReport {
                    wait: Some(wait),
                    ..BatchReport::default()
                });
            }
        };
        if !outbox::has_due(&self.pool, now).await? {
            self.save_idle_state(now).await?;
            return Ok(BatchReport::default());
        }
        let day_limit = i64::from(self.quota.calls_per_day.get());
        let usage = quota::usage(&mut *self.pool.acquire().await?, now, day_limit).await?;
        if usage.left() == 0 {
            let free_at = usage.next_free_at.unwrap_or(now);
            if !self.quota_spent.swap(true, Ordering::SeqCst) {
                tracing::warn!(
                    calls = usage.used,
                    next_call_in = ?Duration::from_millis(u64::try_from(free_at - now).unwrap_or(0)),
                    "quota spent: {} calls in the last 24 hours; delivery resumes as they age out",
                    usage.used
                );
            }
            self.save_idle_state(now).await?;
            let wait = Duration::from_millis(u64::try_from(free_at - now).unwrap_or(0).max(1));
            return Ok(BatchReport {
                wait: Some(wait),
                quota_spent: true,
                ..BatchReport::default()
            });
        }
        if self.quota_spent.swap(false, Ordering::SeqCst) {
            tracing::info!("quota available again; delivery resumes");
        }
        let groups_wanted = u32::try_from(usage.left()).unwrap_or(u32::MAX).min(limit);
        let groups = {
            let _turn = self.write_turn.lock().await;
            outbox::claim(&self.pool, now, groups_wanted, self.quota.rows_per_call()).await?
        };
        if groups.is_empty() {
            self.save_idle_state(now).await?;
            return Ok(BatchReport::default());
        }
        self.crash_point(CrashPoint::AfterClaim);
        let plans: Vec<Plan> = groups
            .into_iter()
            .map(|g| Plan::new(g, &self.endpoint))
            .collect();
        let needed: usize = plans.iter().map(|p| p.requests.len()).sum();
        // Counted before anything is sent: a crash from here on leaves these calls counted.
        let reservation = {
            let _turn = self.write_turn.lock().await;
            quota::reserve(
                &self.pool,
                now,
                i64::try_from(needed).unwrap_or(i64::MAX),
                day_limit,
            )
            .await?
        };
        let (results, sent) = self.send_plans(plans, reservation.calls, stop).await;
        self.crash_point(CrashPoint::BeforeRecord);
        let mut report = summarize(&results);
        report.requests = u32::try_from(sent).unwrap_or(u32::MAX);
        self.record(&results, &report, reservation, sent).await?;
        Ok(report)
    }

    /// The timeline this deliverer schedules on.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// A new token: requests use it from now on, and a pause for a refused token ends at once.
    pub fn token_changed(&self, token: Option<Token>) {
        self.client.set_token(token);
        self.gate().token_changed();
        tracing::info!("token replaced; the next request uses it");
    }

    /// Sends the plans that fit in `allowed` calls, `workers.concurrency` at a time, and hands
    /// back the rest. Returns every row's result and the number of requests made.
    async fn send_plans(
        &self,
        plans: Vec<Plan>,
        allowed: i64,
        stop: &CancellationToken,
    ) -> (Vec<RowResult>, i64) {
        let mut results = Vec::new();
        let mut to_send = Vec::with_capacity(plans.len());
        let mut left = allowed;
        for plan in plans {
            let calls = i64::try_from(plan.requests.len()).unwrap_or(i64::MAX);
            if calls <= left {
                left -= calls;
                to_send.push(plan);
            } else {
                results.extend(plan.settle(None, 0, &self.retry, self.timeline.now_ms(), 0.0));
            }
        }
        let concurrency = usize::try_from(self.workers.concurrency.get()).unwrap_or(1);
        let sent: Vec<(Vec<RowResult>, u32)> = futures_util::stream::iter(to_send)
            .map(|plan| self.send_plan(plan, stop))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut requests = 0;
        for (plan_results, count) in sent {
            requests += i64::from(count);
            results.extend(plan_results);
        }
        (results, requests)
    }

    /// Sends one plan's requests in order, stopping at the first not delivered.
    async fn send_plan(&self, plan: Plan, stop: &CancellationToken) -> (Vec<RowResult>, u32) {
        let mut sent = 0;
        let mut outcome = None;
        for request in &plan.requests {
            match self.send(request, stop).await {
                Attempt::Answered(answer) => {
                    sent += 1;
                    let delivered = matches!(answer, Outcome::Delivered { .. });
                    outcome = Some(answer);
                    if !delivered {
                        break;
                    }
                }
                // Part of the update may have gone out; all of it is sent again later.
                Attempt::Held => {
                    outcome = None;
                    break;
                }
                Attempt::Unanswered => {
                    sent += 1;
                    outcome = None;
                    break;
                }
            }
        }
        let results = plan.settle(
            outcome.as_ref(),
            sent,
            &self.retry,
            self.timeline.now_ms(),
            rand::random(),
        );
        (results, sent)
    }

    /// Sends one request once the gate, a free place among the requests in flight and the rate
    /// limit allow it.
    async fn send(&self, request: &PreparedRequest, stop: &CancellationToken) -> Attempt {
        if !self.may_send(stop) {
            return Attempt::Held;
        }
        let _place = tokio::select! {
            place = self.in_flight.acquire() => match place {
                Ok(place) => place,
                // Never closed; if it were, hand the row back rather than send unbounded.
                Err(_) => return Attempt::Held,
            },
            () = stop.cancelled() => return Attempt::Held,
        };
        tokio::select! {
            () = self.limiter.until_ready() => {}
            () = stop.cancelled() => return Attempt::Held,
        }
        // The gate may have closed while this request waited its turn.
        if !self.may_send(stop) {
            return Attempt::Held;
        }
        let deadline = async {
            stop.cancelled().await;
            tokio::time::sleep(self.workers.shutdown_deadline).await;
        };
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = self.client.send(request) => outcome,
            () = deadline => return Attempt::Unanswered,
        };
        self.metrics.observe_request(&outcome, started.elapsed());
        self.crash_point(CrashPoint::AfterSend);
        self.observe(&outcome);
        Attempt::Answered(outcome)
    }

    /// Neither shutting down nor paused.
    fn may_send(&self, stop: &CancellationToken) -> bool {
        !stop.is_cancelled()
            && !matches!(
                self.gate().allowance(self.timeline.now_ms()),
                Allowance::Wait(_)
            )
    }

    /// Rows (visitors) one round claims at full speed: `workers.batch_size`, but no more than the
    /// rate limit lets out in about a second, so rows do not sit in flight for long, nor a round
    /// outlast the watchdog, when the rate is low.
    fn batch_limit(&self) -> u32 {
        let per_second = self
            .quota
            .max_per_second
            .get()
            .saturating_add(self.quota.burst.get());
        self.workers.batch_size.get().min(per_second)
    }

    /// Records a batch, gives back unused calls and saves the visible state, in one transaction.
    /// Not raced against shutdown: an outcome is recorded whole, or its rows stay in flight.
    async fn record(
        &self,
        results: &[RowResult],
        report: &BatchReport,
        reservation: Reservation,
        sent: i64,
    ) -> anyhow::Result<()> {
        let now = self.timeline.now_ms();
        let error = results.iter().find_map(|r| match &r.decision {
            Decision::Retry { error, .. } | Decision::SendAlone { error, .. } => {
                Some(error.clone())
            }
            Decision::Failed { reason, .. } => Some(format!("row {} failed: {reason}", r.id)),
            Decision::Delivered { .. } | Decision::HandBack => None,
        });
        let _turn = self.write_turn.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        outbox::record(&mut tx, results, now).await?;
        quota::refund(&mut tx, reservation, reservation.calls - sent).await?;
        self.save_state(&mut tx, now, report.delivered > 0, error)
            .await?;
        tx.commit().await?;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.batch_written();
        }
        self.metrics.rows_recorded(report.delivered, report.failed);
        Ok(())
    }

    /// Refreshes the visible state when nothing else has for a second.
    async fn save_idle_state(&self, now: i64) -> anyhow::Result<()> {
        if now.saturating_sub(self.state_saved_at.load(Ordering::SeqCst)) < IDLE_STATE_EVERY_MS {
            return Ok(());
        }
        let _turn = self.write_turn.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        self.save_state(&mut tx, now, false, None).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_state(
        &self,
        tx: &mut SqliteConnection,
        now: i64,
        delivered: bool,
        error: Option<String>,
    ) -> anyhow::Result<()> {
        let usage = quota::usage(tx, now, i64::from(self.quota.calls_per_day.get())).await?;
        let error = error.or_else(|| self.round_error.lock().ok().and_then(|mut e| e.take()));
        let (circuit, gate_reason, gate_until) = {
            let gate = self.gate();
            (
                gate.circuit(now),
                gate.reason().filter(|_| gate.circuit(now) != "closed"),
                gate.closed_until(now),
            )
        };
        let (pause_reason, paused_until) = match (gate_reason, usage.next_free_at) {
            (Some(reason), _) => (Some(reason.as_str()), gate_until),
            (None, Some(free_at)) => (Some("quota_spent"), Some(free_at)),
            (None, None) => (None, None),
        };
        let wall = |t: i64| self.timeline.to_wall_ms(t);
        let snapshot = Snapshot {
            quota_limit: usage.limit,
            calls_in_window: usage.used,
            next_call_at: usage.next_free_at.map(wall),
            pause_reason,
            paused_until: paused_until.map(wall),
            circuit,
            delivered_at: delivered.then(|| self.timeline.clock().wall_ms()),
            error,
        };
        state::save(tx, &self.timeline.anchor(), &snapshot).await?;
        self.state_saved_at.store(now, Ordering::SeqCst);
        Ok(())
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        // The gate holds no invariant a panic elsewhere could break; keep using it.
        self.gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shows an answer to the gate and logs when delivery pauses or resumes.
    fn observe(&self, outcome: &Outcome) {
        let mut gate = self.gate();
        if !gate.observe(outcome, self.timeline.now_ms(), rand::random()) {
            return;
        }
        match gate.reason() {
            Some(PauseReason::Unauthorized) => tracing::error!(
                answer = %outcome.describe(),
                "delivery paused: Target refuses the token; replace the file named by target.token_file \
                 (it is re-read when it changes and on SIGHUP)"
            ),
            Some(reason) => {
                tracing::warn!(reason = reason.as_str(), answer = %outcome.describe(), "delivery paused")
            }
            None => tracing::info!("Target answers again; delivery resumed"),
        }
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
        match outbox::release_in_flight(&self.pool, self.timeline.now_ms()).await {
            Ok(_) => self.release_pending.store(false, Ordering::SeqCst),
            Err(e) => {
                self.release_pending.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "cannot hand rows back to pending yet; trying again");
            }
        }
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

fn summarize(results: &[RowResult]) -> BatchReport {
    let mut report = BatchReport {
        claimed: results.len(),
        ..BatchReport::default()
    };
    for result in results {
        match result.decision {
            Decision::Delivered { .. } => report.delivered += 1,
            Decision::Retry { .. } | Decision::SendAlone { .. } => report.retried += 1,
            Decision::Failed { .. } => report.failed += 1,
            Decision::HandBack => report.handed_back += 1,
        }
    }
    report
}
