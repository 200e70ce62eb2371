//! The one checker every fault case ends with.
//!
//! Rows carry `"seq": n`, increasing per visitor in the order producers committed them. Then:
//! every committed row reached Target (acknowledged) with its value or a newer one; no row is
//! marked delivered unless Target acknowledged its value or a newer one; per visitor, no older value
//! was acknowledged after a newer one; no 24 hours hold more requests than the quota; the
//! database passes `PRAGMA integrity_check`. Duplicates are counted, not hidden.

use crate::fake_target::Received;
use sqlx::{Row, SqlitePool};
use std::collections::HashMap;
use std::time::Duration;

/// What a run did and what went wrong, printed as the case's figures.
#[derive(Debug, Default)]
pub struct Verdict {
    pub case: String,
    pub rows: usize,
    pub requests: usize,
    pub acknowledged: usize,
    pub duplicates: usize,
    pub lost: usize,
    pub not_delivered: usize,
    pub delivered_unacknowledged: usize,
    pub out_of_order: usize,
    pub over_quota: usize,
    pub integrity: String,
    pub extra: String,
}

impl Verdict {
    /// Prints the figures and fails the test on any loss, disorder, overrun or corruption.
    pub fn assert_clean(&self) {
        println!(
            "fault case {}: rows={} requests={} acknowledged={} duplicates={} lost={} not_delivered={} \
             delivered_unacknowledged={} out_of_order={} over_quota={} integrity={} {}",
            self.case,
            self.rows,
            self.requests,
            self.acknowledged,
            self.duplicates,
            self.lost,
            self.not_delivered,
            self.delivered_unacknowledged,
            self.out_of_order,
            self.over_quota,
            self.integrity,
            self.extra
        );
        assert_eq!(
            (
                self.lost,
                self.not_delivered,
                self.delivered_unacknowledged,
                self.out_of_order,
                self.over_quota
            ),
            (0, 0, 0, 0, 0),
            "{self:?}"
        );
        assert_eq!(self.integrity, "ok");
        assert!(self.rows > 0, "the case wrote no rows");
    }
}

/// The visitor and seq a request carried.
fn key(request: &Received) -> Option<(String, i64)> {
    let visitor = request
        .param("mboxPC")
        .map(|id| format!("pc:{id}"))
        .or_else(|| request.param("mbox3rdPartyId").map(|id| format!("3p:{id}")))?;
    let seq = request.param("profile.seq")?.parse().ok()?;
    Some((visitor, seq))
}

/// Checks the database against what the fake Target received. `quota` is calls per 24 hours.
pub async fn check(case: &str, pool: &SqlitePool, received: &[Received], quota: usize) -> Verdict {
    let rows = sqlx::query(
        "SELECT visitor, CAST(json_extract(attributes, '$.seq') AS INTEGER), state FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("rows read");
    let mut verdict = Verdict {
        case: case.to_owned(),
        rows: rows.len(),
        requests: received.len(),
        ..Verdict::default()
    };
    // Per visitor: the acknowledged seqs, in the order they arrived.
    let mut acked: HashMap<String, Vec<i64>> = HashMap::new();
    let mut arrivals: Vec<&Received> = received.iter().filter(|r| r.acknowledged).collect();
    arrivals.sort_by_key(|r| r.at);
    for (visitor, seq) in arrivals.iter().filter_map(|r| key(r)) {
        let seen = acked.entry(visitor).or_default();
        verdict.duplicates += usize::from(seen.contains(&seq));
        verdict.out_of_order += usize::from(seen.last().is_some_and(|last| *last > seq));
        seen.push(seq);
        verdict.acknowledged += 1;
    }
    for row in &rows {
        let visitor: String = row.get(0);
        let seq: i64 = row.get(1);
        let state: String = row.get(2);
        let reached = acked
            .get(&visitor)
            .is_some_and(|seqs| seqs.iter().any(|s| *s >= seq));
        verdict.lost += usize::from(!reached && state != "pending" && state != "in_flight");
        verdict.not_delivered += usize::from(state != "delivered");
        verdict.delivered_unacknowledged += usize::from(state == "delivered" && !reached);
    }
    verdict.over_quota = over_quota(received, quota);
    verdict.integrity = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .expect("integrity check");
    verdict
}

/// How far the busiest 24 hours of requests went past `quota` (0 when never).
fn over_quota(received: &[Received], quota: usize) -> usize {
    let mut times: Vec<_> = received.iter().map(|r| r.at).collect();
    times.sort();
    let day = Duration::from_secs(86_400);
    let (mut worst, mut first) = (0, 0);
    for (last, time) in times.iter().enumerate() {
        while time.duration_since(times[first]) >= day {
            first += 1;
        }
        worst = worst.max(last + 1 - first);
    }
    worst.saturating_sub(quota)
}
