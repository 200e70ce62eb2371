//! The sender: one request at a time through the gate, a place among the requests in flight, the
//! rate limit and the client, and what the gate makes of each answer. It never touches the
//! database; the store ([`super::Store`]) never touches the network; the loop
//! ([`super::Deliverer`]) joins the two.

use super::suspects::Failure;
use super::{Allowance, CrashPlan, CrashPoint, Gate, Heartbeat, PauseReason, Suspects, Verdict};
use crate::adobe::{Check, Outcome, PreparedRequest, TargetClient};
use crate::clock::Timeline;
use crate::config::{Settings, Token};
use crate::metrics::Metrics;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Answered(Outcome, Verdict),
    /// Held back: shutdown, the gate closed before its turn, or its booking's minute ended.
    Held,
    /// Sent, but the answer did not come before the shutdown deadline.
    Unanswered,
}

/// What became of one profile lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Answered(Check),
    /// Not made, or its answer never came: shutdown, or the gate closed before its turn.
    Held,
}

/// The client and everything that decides when a request may go.
pub struct Sender {
    client: TargetClient,
    limiter: DefaultDirectRateLimiter,
    /// Profile lookups have a rate of their own (`target.check_max_per_second`), apart from
    /// updates': they count nothing against the quota.
    check_limiter: DefaultDirectRateLimiter,
    gate: Mutex<Gate>,
    /// Requests in flight across both lanes, at most `workers.concurrency`.
    in_flight: Semaphore,
    /// Rows whose request closed the open gate (see [`Suspects`]).
    suspects: Suspects,
    timeline: Timeline,
    heartbeat: Arc<Heartbeat>,
    metrics: Arc<Metrics>,
    crash: Option<Arc<CrashPlan>>,
    /// How long one request may take (`target.timeout`): waiting that long for an answer is
    /// the loop doing its job.
    request_timeout: Duration,
    shutdown_deadline: Duration,
    /// What an operator does about a refused token, for the log (`TargetSettings::token_remedy`).
    token_remedy: String,
}

impl Sender {
    pub fn new(
        client: TargetClient,
        settings: &Settings,
        timeline: Timeline,
        heartbeat: Arc<Heartbeat>,
    ) -> Sender {
        let rate =
            Quota::per_second(settings.quota.max_per_second).allow_burst(settings.quota.burst);
        let retry = &settings.retry;
        let concurrency = usize::try_from(settings.workers.concurrency.get()).unwrap_or(1);
        Sender {
            client,
            limiter: RateLimiter::direct(rate),
            check_limiter: RateLimiter::direct(Quota::per_second(
                settings.target.check_max_per_second,
            )),
            gate: Mutex::new(Gate::new(
                retry.initial_delay,
                retry.max_delay,
                retry.max_retry_after,
            )),
            in_flight: Semaphore::new(concurrency),
            suspects: Suspects::default(),
            timeline,
            heartbeat,
            metrics: Arc::default(),
            crash: None,
            request_timeout: settings.target.timeout,
            shutdown_deadline: settings.workers.shutdown_deadline,
            token_remedy: settings.target.token_remedy(),
        }
    }

    pub(super) fn set_metrics(&mut self, metrics: Arc<Metrics>) {
        self.metrics = metrics;
    }

    pub(super) fn set_crash_plan(&mut self, crash: Option<Arc<CrashPlan>>) {
        self.crash = crash;
    }

    pub fn suspects(&self) -> &Suspects {
        &self.suspects
    }

    pub fn gate(&self) -> MutexGuard<'_, Gate> {
        // The gate holds no invariant a panic elsewhere could break; keep using it.
        self.gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How much the gate lets through now.
    pub fn allowance(&self) -> Allowance {
        self.gate().allowance(self.timeline.now_ms())
    }

    /// A new token: requests use it from now on, and a pause for a refused token ends at once.
    pub fn token_changed(&self, token: Option<Token>) {
        self.client.set_token(token);
        self.gate().token_changed();
        tracing::info!("token replaced; the next request uses it");
    }

    /// Sends one request once the gate, a free place among the requests in flight and the rate
    /// limit allow it, if `send_by` (its booking's end, timeline ms) has not passed by then.
    /// `suspect`: the request carries only suspect rows, whose request failed this way before.
    pub async fn send(
        &self,
        request: &PreparedRequest,
        send_by: i64,
        suspect: Option<Failure>,
        stop: &CancellationToken,
    ) -> Attempt {
        let Some(_place) = self.turn(&self.limiter, stop).await else {
            return Attempt::Held;
        };
        // A call sent after its booking's minute would be counted in a minute earlier than its own.
        let sent_at = self.timeline.now_ms();
        if sent_at >= send_by {
            return Attempt::Held;
        }
        let started = Instant::now();
        let Some(outcome) = self.answer_of(self.client.send(request), stop).await else {
            return Attempt::Unanswered;
        };
        self.metrics.observe_request(&outcome, started.elapsed());
        if let Some(plan) = &self.crash {
            plan.reached(CrashPoint::AfterSend);
        }
        // Only the same failure again can be the rows' own doing.
        let suspect = suspect.is_some_and(|failure| failure == Failure::of(&outcome));
        let verdict = self.judge(&outcome, sent_at, suspect);
        Attempt::Answered(outcome, verdict)
    }

    /// Looks a visitor up with the profile fetch API (`request` from `Endpoint::profile_check`),
    /// through the same gate and places in flight as updates, at the lookups' own rate. Its
    /// answer is shown to the gate like an update's: a refused token or an outage pauses
    /// everyone, and an answer about the visitor shows Target working.
    pub async fn check(&self, request: &PreparedRequest, stop: &CancellationToken) -> Lookup {
        let Some(_place) = self.turn(&self.check_limiter, stop).await else {
            return Lookup::Held;
        };
        let sent_at = self.timeline.now_ms();
        let Some(check) = self.answer_of(self.client.check(request), stop).await else {
            return Lookup::Held;
        };
        match &check {
            Check::Exists | Check::Missing => {
                self.judge(&Outcome::Delivered { status: 200 }, sent_at, false);
            }
            Check::Unclear(Outcome::Rejected { .. }) => {}
            Check::Unclear(outcome) => {
                self.judge(outcome, sent_at, false);
            }
        }
        Lookup::Answered(check)
    }

    /// Waits for a free place among the requests in flight and for `limiter`, then checks the gate
    /// again (it may have closed meanwhile). `None`: shutdown, or the gate is closed.
    async fn turn(
        &self,
        limiter: &DefaultDirectRateLimiter,
        stop: &CancellationToken,
    ) -> Option<SemaphorePermit<'_>> {
        if !self.may_send(stop) {
            return None;
        }
        let place = tokio::select! {
            // Never closed; if it were, hand the row back rather than send unbounded.
            place = self.in_flight.acquire() => place.ok()?,
            () = stop.cancelled() => return None,
        };
        tokio::select! {
            () = limiter.until_ready() => {}
            () = stop.cancelled() => return None,
        }
        self.may_send(stop).then_some(place)
    }

    /// The answer of a request under way, or `None` when it does not come before the shutdown
    /// deadline; beats the heartbeat while it may still legitimately come, and when it does.
    async fn answer_of<T>(
        &self,
        answer: impl std::future::Future<Output = T>,
        stop: &CancellationToken,
    ) -> Option<T> {
        let deadline = async {
            stop.cancelled().await;
            tokio::time::sleep(self.shutdown_deadline).await;
        };
        let answer = tokio::select! {
            answer = answer => answer,
            () = deadline => return None,
            () = self.beat_while_waiting() => return None,
        };
        self.heartbeat.beat();
        Some(answer)
    }

    /// Neither shutting down nor paused.
    pub fn may_send(&self, stop: &CancellationToken) -> bool {
        !stop.is_cancelled() && !matches!(self.allowance(), Allowance::Wait(_))
    }

    /// Beats the heartbeat every second while an answer may still legitimately come (within
    /// `target.timeout`, and a second's grace), then waits forever: the client's own timeout ends
    /// the request first, unless something is stuck, and then the beats have stopped.
    async fn beat_while_waiting(&self) {
        let limit = Instant::now() + self.request_timeout + Duration::from_secs(1);
        while Instant::now() < limit {
            self.heartbeat.beat();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        std::future::pending::<()>().await;
    }

    /// Shows an answer to the gate, unless it is the suspect rows' own fault, and logs when
    /// delivery pauses or resumes.
    fn judge(&self, outcome: &Outcome, sent_at: i64, suspect: bool) -> Verdict {
        let mut gate = self.gate();
        let now = self.timeline.now_ms();
        let verdict = gate.judge(outcome, sent_at, now, suspect, rand::random());
        match verdict {
            Verdict::RowsFault => tracing::warn!(
                answer = %outcome.describe(),
                "a request failed again for the same rows while others get through: counted \
                 against those rows, delivery goes on"
            ),
            Verdict::Observed { changed: false, .. } => {}
            Verdict::Observed { changed: true, .. } => match gate.reason() {
                Some(PauseReason::Unauthorized) => tracing::error!(
                    answer = %outcome.describe(),
                    "delivery paused: Target refuses the token; {}",
                    self.token_remedy
                ),
                Some(reason) => {
                    tracing::warn!(reason = reason.as_str(), answer = %outcome.describe(), "delivery paused")
                }
                None => tracing::info!("Target answers again; delivery resumed"),
            },
        }
        verdict
    }
}
