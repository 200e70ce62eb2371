//! Time passing: the daemon wakes when it asked to while an `Advance` step lets time pass, and
//! after the history, faults stop and time runs on until every row is at rest or a bound passes.

use super::{DAY, World};
use crate::plan::Faults;

/// Times the daemon may wake during one `Advance` step before the rest passes at once.
const WAKES_PER_ADVANCE: usize = 24;

impl World {
    /// Time passes while the daemon runs: it wakes when it asked to (its waits, rows' retry
    /// times), as the real loop does, and sleeps longer and longer while nothing changes.
    pub(super) async fn pass_time(&mut self, ms: i64) -> anyhow::Result<()> {
        let end = self.clock.wall_ms() + ms;
        let mut stalled_ms = 1_000;
        let mut last = self.target.received();
        for _ in 0..WAKES_PER_ADVANCE {
            self.deliver(1, None, None).await?;
            let received = self.target.received();
            stalled_ms = if received == last {
                (stalled_ms * 2).min(DAY)
            } else {
                1_000
            };
            last = received;
            let wake = self.next_wake().await?.max(stalled_ms);
            if self.clock.wall_ms() + wake >= end {
                break;
            }
            self.clock.advance_ms(wake);
        }
        let left = end - self.clock.wall_ms();
        self.clock.advance_ms(left.max(0));
        Ok(())
    }

    /// Faults stop, the operator puts the right token in place, and time moves on as the daemon
    /// asks (its waits, rows' retry times) until every row is at rest or the bound passes.
    /// Returns why rows are not at rest, if they are not, and the rounds it took.
    pub async fn settle(
        &mut self,
        calls_per_day: u32,
        max_attempts: u32,
    ) -> anyhow::Result<(Option<String>, u32)> {
        self.target.set_faults(Faults::None);
        if self.daemon.is_none() {
            self.start().await?;
        }
        self.tell_token();
        let open = self.unsettled_count().await?;
        // Per row: up to 5 requests (a split update), each refused up to max_attempts times; or,
        // for a poison row, its strikes in a combined update, then its strikes alone, and the
        // probes between them.
        let strikes = i64::from(profile_outbox::delivery::STRIKES_TO_FAIL);
        let per_row = (5 * i64::from(max_attempts)).max(2 * strikes + 4);
        let calls_needed = open * per_row;
        // A group of k requests waits until k calls are free, so a day may end with up to k - 1
        // calls unused while such a group waits: a day gives at least calls_per_day - k + 1.
        let per_day = i64::from(calls_per_day) - i64::from(calls_per_day.min(5)) + 1;
        let days = 2 + (calls_needed as f64 / per_day as f64).ceil() as i64;
        let started = self.now_ms();
        let rounds = self
            .run_until_at_rest(open, calls_needed, days * DAY)
            .await?;
        if self.unsettled_count().await? == 0 {
            return Ok((None, rounds));
        }
        let hours = (self.now_ms() - started) / 3_600_000;
        let why = format!(
            "{} after {hours} simulated hours and {rounds} rounds without faults (bound {days} days)",
            self.unsettled().await?
        );
        Ok((Some(why), rounds))
    }

    /// Rounds, with time moving between them, until no row is pending or in flight, `bound_ms`
    /// has passed, or the round limit is reached (a round sends at least one of `calls_needed`,
    /// or time moves on towards the next thing due). Returns the rounds run.
    async fn run_until_at_rest(
        &mut self,
        open: i64,
        calls_needed: i64,
        bound_ms: i64,
    ) -> anyhow::Result<u32> {
        let started = self.now_ms();
        // While nothing moves, time moves faster: 1 s, 2 s, 4 s … up to a day.
        let mut stalled_ms = 1_000;
        let mut last = (open, self.target.received());
        // Each day of waiting (for the quota, a retry) can take the 18 doublings from 1 s to a day.
        let waits = 18 * (bound_ms / DAY + 1);
        let limit = 80 + u32::try_from(open * 6 + calls_needed + waits).unwrap_or(u32::MAX);
        for round in 0..limit {
            self.deliver(1, None, None).await?;
            let now = (self.unsettled_count().await?, self.target.received());
            if now.0 == 0 || self.now_ms() - started > bound_ms {
                return Ok(round);
            }
            stalled_ms = if now == last {
                (stalled_ms * 2).min(DAY)
            } else {
                1_000
            };
            last = now;
            let advance = self.next_wake().await?.max(stalled_ms);
            self.clock.advance_ms(advance);
        }
        Ok(limit)
    }

    /// The rows not at rest, the first few of them and the last round's error, in a sentence.
    async fn unsettled(&self) -> anyhow::Result<String> {
        let stuck: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, state, last_error FROM outbox WHERE state IN ('pending', 'in_flight')
             ORDER BY id LIMIT 5",
        )
        .fetch_all(self.producers()?)
        .await?;
        Ok(format!(
            "{} rows not at rest; first: {stuck:?}; last round error: {:?}",
            self.unsettled_count().await?,
            self.stats.borrow().last_round_error
        ))
    }

    async fn unsettled_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')",
        )
        .fetch_one(self.producers()?)
        .await?)
    }

    /// How far to move time: to the daemon's own wait or the next row's retry time, at least a
    /// second, at most a day.
    async fn next_wake(&self) -> anyhow::Result<i64> {
        let now = self.now_ms();
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending' AND next_attempt_at > ?",
        )
        .bind(now)
        .fetch_one(self.producers()?)
        .await?;
        let wait = self.stats.borrow_mut().wait_ms.take();
        let candidates = [due.map(|d| d - now), wait];
        let next = candidates.into_iter().flatten().min().unwrap_or(1_000);
        Ok(next.clamp(1_000, DAY))
    }
}
