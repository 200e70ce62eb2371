//! Sending a round's plans: the ones the quota allows, `workers.concurrency` requests at a time
//! across both lanes, each request after the gate and the rate limit, within the shutdown deadline.

use super::*;

/// What became of one request.
enum Attempt {
    Answered(Outcome),
    /// Held back: shutdown, or the gate closed before its turn.
    Held,
    /// Sent, but the answer did not come before the shutdown deadline.
    Unanswered,
}

impl Deliverer {
    /// Sends the plans that fit in `allowed` calls, `workers.concurrency` at a time, and hands
    /// back the rest. Returns every row's result and the number of requests made.
    pub(super) async fn send_plans(
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
}
