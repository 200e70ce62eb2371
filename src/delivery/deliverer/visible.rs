//! Recording a round (outcomes, quota refund and the visible state in one transaction) and
//! keeping the visible state fresh while idle or paused.

use super::{BatchReport, Deliverer, IDLE_STATE_EVERY_MS};
use crate::delivery::Reserved;
use crate::outbox::{Decision, RowResult};
use crate::quota;
use crate::state::{self, Snapshot};
use sqlx::SqliteConnection;
use std::sync::atomic::Ordering;

impl Deliverer {
    /// Records a batch, gives back unused calls and saves the visible state, in one transaction.
    /// Not raced against shutdown: an outcome is recorded whole, or its rows stay in flight.
    pub(super) async fn record(
        &self,
        results: &[RowResult],
        report: &BatchReport,
        reservation: Reserved,
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
        let mut write = self.store.write().await?;
        crate::outbox::record(&mut write.tx, results, now).await?;
        self.store
            .refund(&mut write.tx, reservation, reservation.calls - sent)
            .await?;
        self.save_state(&mut write.tx, now, report.delivered > 0, error)
            .await?;
        write.commit().await?;
        self.store.batch_written();
        self.metrics.rows_recorded(report.delivered, report.failed);
        Ok(())
    }

    /// Refreshes the visible state when nothing else has for a second.
    pub(super) async fn save_idle_state(&self, now: i64) -> anyhow::Result<()> {
        if now.saturating_sub(self.state_saved_at.load(Ordering::SeqCst)) < IDLE_STATE_EVERY_MS {
            return Ok(());
        }
        let mut write = self.store.write().await?;
        self.save_state(&mut write.tx, now, false, None).await?;
        write.commit().await?;
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
            let gate = self.sender.gate();
            (
                gate.circuit(now),
                gate.reason().filter(|_| gate.circuit(now) != "closed"),
                gate.closed_until(now),
            )
        };
        let (pause_reason, paused_until) = match (gate_reason, usage.next_free_at) {
            (Some(reason), _) => (Some(reason.as_str()), gate_until),
            (None, Some(free_at)) => (Some("quota_spent"), Some(free_at)),
            (None, None) => match self.store.pool_pause(now) {
                Some((reason, until)) => (Some(reason), Some(until)),
                None => (None, None),
            },
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
}
