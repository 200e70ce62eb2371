//! The unit of work (claim, check, reserve quota, send and record one batch) and the loop that
//! repeats it until shutdown.
//!
//! While a backlog drains, the loop keeps two rounds going (two lanes): while one round's requests
//! are out, the other claims its batch or records its outcomes, so the wire does not wait for the
//! database nor a batch for its slowest request. The lanes share one limit on requests in flight
//! (`workers.concurrency`) and take turns at the database's write lock.

use super::{Allowance, CrashPlan, CrashPoint, Heartbeat, Plan, Sender, Store};
use crate::adobe::{Endpoint, TargetClient};
use crate::clock::Timeline;
use crate::config::{QuotaSettings, RetrySettings, Settings, Token, WorkerSettings};
use crate::housekeeping::WalCheckpointer;
use crate::metrics::Metrics;
use crate::outbox::{Claimed, Decision, RowResult};
use crate::quota::pool::PoolQuota;
use sqlx::SqlitePool;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

mod lanes;
mod profiles;
mod sending;
mod visible;

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

/// The loop: joins the store (the database) and the sender (the network), round after round.
/// Everything is passed in rather than global.
pub struct Deliverer {
    store: Store,
    sender: Sender,
    endpoint: Endpoint,
    timeline: Timeline,
    retry: RetrySettings,
    workers: WorkerSettings,
    quota: QuotaSettings,
    quota_spent: AtomicBool,
    state_saved_at: AtomicI64,
    metrics: Arc<Metrics>,
    crash: Option<Arc<CrashPlan>>,
    /// Set when rows a failed round left `in_flight` could not be handed back yet.
    release_pending: AtomicBool,
    /// Why the last round failed (a full disk, a lock held too long), for the visible state once
    /// the database takes writes again.
    round_error: Mutex<Option<String>>,
    /// Read-held by every round of the loop; write-held to hand back rows after an error, which
    /// must wait for the other lane's round so as not to hand back rows it is still sending.
    rounds: RwLock<()>,
    /// The loop's sign of life for the watchdog.
    heartbeat: Arc<Heartbeat>,
    /// With `target.check_profile`: how long a visitor without a profile is waited for.
    profile_wait: Option<Duration>,
}

impl Deliverer {
    pub fn new(
        pool: SqlitePool,
        client: TargetClient,
        endpoint: Endpoint,
        settings: &Settings,
        timeline: Timeline,
    ) -> Self {
        let heartbeat = Arc::new(Heartbeat::default());
        Deliverer {
            store: Store::new(pool),
            sender: Sender::new(client, settings, timeline.clone(), heartbeat.clone()),
            endpoint,
            timeline,
            retry: settings.retry.clone(),
            workers: settings.workers.clone(),
            quota: settings.quota.clone(),
            quota_spent: AtomicBool::new(false),
            state_saved_at: AtomicI64::new(i64::MIN),
            metrics: Arc::default(),
            crash: None,
            release_pending: AtomicBool::new(false),
            round_error: Mutex::new(None),
            rounds: RwLock::new(()),
            heartbeat,
            profile_wait: settings
                .target
                .check_profile
                .then_some(settings.target.profile_wait),
        }
    }

    /// The loop's sign of life: a watchdog pings systemd only while it is fresh.
    pub fn heartbeat(&self) -> Arc<Heartbeat> {
        self.heartbeat.clone()
    }

    /// Carries over a pause Target asked for (`Retry-After`) before a restart, until `until`
    /// (timeline ms).
    pub fn resume_requested_pause(&self, until: i64) {
        if until > self.timeline.now_ms() {
            self.sender.gate().resume_requested_pause(until);
        }
    }

    /// Arms the fault suite's crash seam (see [`CrashPlan`]).
    pub fn with_crash_plan(mut self, crash: Option<CrashPlan>) -> Self {
        let crash = crash.map(Arc::new);
        self.sender.set_crash_plan(crash.clone());
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
        self.sender.set_metrics(metrics.clone());
        self.metrics = metrics;
        self
    }

    /// Takes the quota from a pool shared with other hosts rather than the local ledger.
    pub fn with_pool_quota(mut self, pool_quota: Option<PoolQuota>) -> Self {
        if let Some(pool_quota) = pool_quota {
            self.store.set_pool_quota(pool_quota);
        }
        self
    }

    /// Wakes `checkpointer` after every recorded batch (by default, delivery's connection
    /// checkpoints the WAL itself, as SQLite does).
    pub fn with_checkpointer(mut self, checkpointer: WalCheckpointer) -> Self {
        self.store.set_checkpointer(checkpointer);
        self
    }

    /// One batch. Tests call this directly.
    pub async fn run_once(&self, stop: &CancellationToken) -> anyhow::Result<BatchReport> {
        self.heartbeat.beat();
        let now = self.timeline.now_ms();
        let allowance = self.sender.allowance();
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
        if !self.store.has_due(now).await? {
            self.save_idle_state(now).await?;
            return Ok(BatchReport::default());
        }
        let day_limit = i64::from(self.quota.calls_per_day.get());
        let usage = self.store.usage(now, day_limit).await?;
        if usage.left() == 0 {
            let free_at = usage.next_free_at.unwrap_or(now);
            if !self.quota_spent.swap(true, Ordering::SeqCst)
                && !self.store.log_pool_spent(now, &usage)
            {
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
        let Claimed { groups, set_aside } = self
            .store
            .claim(now, groups_wanted, self.quota.rows_per_call())
            .await?;
        // Rows the claim set aside (unreadable producer columns) were failed in its transaction.
        self.metrics.rows_recorded(0, set_aside);
        if groups.is_empty() {
            if set_aside == 0 {
                self.save_idle_state(now).await?;
            }
            return Ok(BatchReport {
                claimed: set_aside,
                failed: set_aside,
                ..BatchReport::default()
            });
        }
        self.crash_point(CrashPoint::AfterClaim);
        self.heartbeat.beat();
        let plans: Vec<Plan> = groups
            .into_iter()
            .map(|g| Plan::new(g, &self.endpoint))
            .collect();
        let (plans, mut results) = self.check_profiles(plans, now, stop).await?;
        let needed: usize = plans.iter().map(Plan::calls).sum();
        // Counted before anything is sent: a crash from here on leaves these calls counted.
        let reservation = self
            .store
            .reserve(now, i64::try_from(needed).unwrap_or(i64::MAX), day_limit)
            .await?;
        let (sendable, waiting) = sending::share_calls(plans, reservation.calls);
        results.extend(self.wait_for_quota(waiting, now, day_limit).await?);
        let (sent_results, sent) = self.send_plans(sendable, reservation.send_by, stop).await;
        results.extend(sent_results);
        self.crash_point(CrashPoint::BeforeRecord);
        let mut report = summarize(&results);
        report.requests = u32::try_from(sent).unwrap_or(u32::MAX);
        self.record(&results, &report, reservation, sent).await?;
        report.claimed += set_aside;
        report.failed += set_aside;
        self.heartbeat.beat();
        Ok(report)
    }

    /// Plans whose first part needs more calls than the round could reserve: their rows wait
    /// until enough calls have left the window (or fail, when the whole quota is too small).
    async fn wait_for_quota(
        &self,
        waiting: Vec<(Plan, i64)>,
        now: i64,
        day_limit: i64,
    ) -> anyhow::Result<Vec<RowResult>> {
        let mut results = Vec::new();
        if waiting.is_empty() {
            return Ok(results);
        }
        for (plan, needed) in waiting {
            if needed > day_limit {
                results.extend(plan.wait_for_quota(needed, day_limit, None));
                continue;
            }
            results.extend(match self.store.free_for(now, day_limit, needed).await? {
                Some(at) => plan.wait_for_quota(needed, day_limit, Some(at)),
                // Free already: the other lane gave calls back meanwhile.
                None => plan.hand_back(),
            });
        }
        Ok(results)
    }

    /// The timeline this deliverer schedules on.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// A new token: requests use it from now on, and a pause for a refused token ends at once.
    pub fn token_changed(&self, token: Option<Token>) {
        self.sender.token_changed(token);
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
