//! Sending a round's plans: as many parts as the quota reserved, `workers.concurrency` plans at
//! a time, each part's requests in order through the sender, and each plan settled into its rows'
//! results.

use super::Deliverer;
use crate::adobe::Outcome;
use crate::delivery::Plan;
use crate::delivery::gate::blamable;
use crate::delivery::suspects::Failure;
use crate::delivery::{Attempt, Part, Progress, Verdict};
use crate::outbox::{Decision, RowResult};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

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

    /// Records now, in a transaction of its own, that Target took a part of a plan whose later
    /// parts are still to go. The batch's own record later finds these rows no longer in flight
    /// and leaves them alone. On an error the plan's later parts are not sent (they go back to
    /// pending with the batch), so no newer value can go out before the older rows are recorded.
    async fn record_taken(&self, part: &Part, status: u16, requests: u32) -> anyhow::Result<()> {
        let results: Vec<RowResult> = part
            .rows
            .iter()
            .map(|row| RowResult {
                id: row.id,
                requests,
                decision: Decision::Delivered { status },
            })
            .collect();
        let mut write = self.store.write().await?;
        crate::outbox::record(&mut write.tx, &results, self.timeline.now_ms()).await?;
        write.commit().await?;
        Ok(())
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
            let suspect = self.sender.suspects().failure(&ids);
            let mut sent = 0;
            for request in &part.requests {
                let attempt = self.sender.send(request, send_by, suspect, stop).await;
                if !matches!(attempt, Attempt::Held) {
                    sent += 1;
                }
                match attempt {
                    Attempt::Answered(Outcome::Delivered { status }, _) => {
                        progress.delivered_status = status;
                    }
                    Attempt::Answered(outcome, verdict) => {
                        if verdict == Verdict::RowsFault {
                            progress.strikes = self.sender.suspects().strike(&ids);
                        } else if blamable(&outcome) {
                            self.sender.suspects().add(&ids, Failure::of(&outcome));
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
            self.sender.suspects().forget(ids);
            // Before a later part goes out, the rows Target took are recorded: after a crash they
            // are not sent again behind the newer rows' values that may have reached Target.
            if progress.delivered_parts < parts
                && self
                    .record_taken(part, progress.delivered_status, sent)
                    .await
                    .is_err()
            {
                break;
            }
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
            self.sender.suspects().forget(failed.map(|r| r.id));
            // Strikes a combined update earned are not any one row's: the rows it is split into
            // stay suspects but start afresh, so a good row is never failed for a poison row's
            // strikes, and the poison row still earns its own.
            let split = results
                .iter()
                .filter(|r| matches!(r.decision, Decision::SendAlone { .. }));
            self.sender.suspects().afresh(split.map(|r| r.id));
        }
        (results, total)
    }
}
