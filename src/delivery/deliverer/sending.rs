//! Sending a round's plans: as many parts as the quota reserved, `workers.concurrency` requests
//! at a time across both lanes, each request after the gate and the rate limit, before its
//! booking's minute ends and within the shutdown deadline.

use super::*;

/// What became of one request.
enum Attempt {
    Answered(Outcome, Verdict),
    /// Held back: shutdown, the gate closed before its turn, or its booking's minute ended.
    Held,
    /// Sent, but the answer did not come before the shutdown deadline.
    Unanswered,
}

/// A plan and how many of its leading parts the quota reserved calls for.
pub(super) struct Sendable {
    pub plan: Plan,
    pub parts: usize,
}

/// Splits a round's plans by what `calls` reserved calls cover, plans in claim order: each plan
/// gets as many of its leading parts as fit in what is left. Plans none of whose parts fit are
/// returned apart, with the calls their first part needs.
pub(super) fn share_calls(plans: Vec<Plan>, calls: i64) -> (Vec<Sendable>, Vec<(Plan, i64)>) {
    let mut left = calls;
    let mut sendable = Vec::with_capacity(plans.len());
    let mut waiting = Vec::new();
    for plan in plans {
        let mut parts = 0;
        for part in &plan.parts {
            let needed = i64::try_from(part.requests.len()).unwrap_or(i64::MAX);
            if needed > left {
                break;
            }
            left -= needed;
            parts += 1;
        }
        match plan.parts.first() {
            Some(first) if parts == 0 => {
                let needed = i64::try_from(first.requests.len()).unwrap_or(i64::MAX);
                waiting.push((plan, needed));
            }
            _ => sendable.push(Sendable { plan, parts }),
        }
    }
    (sendable, waiting)
}

impl Deliverer {
    /// Sends the sendable parts, `workers.concurrency` requests at a time. Returns every row's
    /// result and the number of requests made.
    pub(super) async fn send_plans(
        &self,
        plans: Vec<Sendable>,
        send_by: i64,
        stop: &CancellationToken,
    ) -> (Vec<RowResult>, i64) {
        let concurrency = usize::try_from(self.workers.concurrency.get()).unwrap_or(1);
        let sent: Vec<(Vec<RowResult>, u32)> = futures_util::stream::iter(plans)
            .map(|sendable| self.send_plan(sendable, send_by, stop))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut results = Vec::new();
        let mut requests = 0;
        for (plan_results, count) in sent {
            requests += i64::from(count);
            results.extend(plan_results);
        }
        (results, requests)
    }

    /// Sends one plan's parts in order, each part's requests in order, stopping at the first
    /// request not delivered.
    async fn send_plan(
        &self,
        sendable: Sendable,
        send_by: i64,
        stop: &CancellationToken,
    ) -> (Vec<RowResult>, u32) {
        let Sendable { plan, parts } = sendable;
        let mut progress = Progress::default();
        let mut total = 0;
        'parts: for part in plan.parts.iter().take(parts) {
            let ids: Vec<i64> = part.rows.iter().map(|r| r.id).collect();
            let suspect = self.suspects.all(&ids);
            let mut sent = 0;
            for request in &part.requests {
                let attempt = self.send(request, send_by, suspect, stop).await;
                if !matches!(attempt, Attempt::Held) {
                    sent += 1;
                }
                match attempt {
                    Attempt::Answered(Outcome::Delivered { status }, _) => {
                        progress.delivered_status = status;
                    }
                    Attempt::Answered(outcome, verdict) => {
                        if matches!(
                            verdict,
                            Verdict::Observed {
                                closed_open_gate: true,
                                ..
                            }
                        ) {
                            self.suspects.add(&ids);
                        }
                        if verdict == Verdict::RowsFault {
                            progress.strikes = self.suspects.strike(&ids);
                        }
                        progress.stopped_by = Some(outcome);
                        progress.stopped_requests = sent;
                        total += sent;
                        break 'parts;
                    }
                    Attempt::Held | Attempt::Unanswered => {
                        progress.stopped_requests = sent;
                        total += sent;
                        break 'parts;
                    }
                }
            }
            total += sent;
            progress.delivered_parts += 1;
            self.suspects.forget(ids);
        }
        let results = plan.settle(
            &progress,
            &self.retry,
            self.timeline.now_ms(),
            rand::random(),
        );
        if progress.strikes > 0 {
            let failed = results
                .iter()
                .filter(|r| matches!(r.decision, Decision::Failed { .. }));
            self.suspects.forget(failed.map(|r| r.id));
        }
        (results, total)
    }

    /// Sends one request once the gate, a free place among the requests in flight and the rate
    /// limit allow it, if its booking's minute has not ended by then.
    async fn send(
        &self,
        request: &PreparedRequest,
        send_by: i64,
        suspect: bool,
        stop: &CancellationToken,
    ) -> Attempt {
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
        // The gate may have closed while this request waited its turn; and a call sent after its
        // booking's minute would be counted in a minute earlier than its own.
        let sent_at = self.timeline.now_ms();
        if !self.may_send(stop) || sent_at >= send_by {
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
            () = self.beat_while_waiting() => return Attempt::Unanswered,
        };
        self.heartbeat.beat();
        self.metrics.observe_request(&outcome, started.elapsed());
        self.crash_point(CrashPoint::AfterSend);
        let verdict = self.judge(&outcome, sent_at, suspect);
        Attempt::Answered(outcome, verdict)
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

    /// Neither shutting down nor paused.
    fn may_send(&self, stop: &CancellationToken) -> bool {
        !stop.is_cancelled()
            && !matches!(
                self.gate().allowance(self.timeline.now_ms()),
                Allowance::Wait(_)
            )
    }
}
