//! `status`: the daemon's health and the outbox's backlog, read in one snapshot.
//!
//! The row figures come from the queue's one source (`outbox::figures`): the counts migration 0007
//! keeps and the pending rows' schedule, so the answer takes the same few milliseconds with ten
//! thousand rows or ten million (BENCHMARKS.md).

use super::daemon::DaemonView;
use super::open::Database;
use crate::clock::Clock;
use crate::outbox::figures;
use crate::quota::{self, Usage};
use crate::words::{self, age, relative, when};
use std::path::PathBuf;

pub use crate::outbox::figures::Counts;

/// A running daemon that has not saved its state for this long may be stuck.
pub const HEARTBEAT_STALE_MS: i64 = 5 * 60 * 1000;

/// Everything `status` shows. Times are wall-clock ms.
#[derive(Clone, Debug)]
pub struct Status {
    pub database: PathBuf,
    pub now_ms: i64,
    pub daemon: DaemonView,
    pub counts: Counts,
    /// The lowest-numbered pending row (the first added of those waiting): id and `created_at`.
    pub oldest_pending: Option<(i64, i64)>,
    /// Pending rows whose time has come (some may wait behind an older row of their visitor).
    pub due_now: i64,
    /// The earliest retry time of a pending row not due yet.
    pub next_retry_at_ms: Option<i64>,
    /// The rolling 24-hour window; `next_free_at` converted to wall-clock ms.
    pub quota: Usage,
    /// The newest failed rows' ids, newest first, at most five.
    pub failed_ids: Vec<i64>,
}

/// Reads the status of `db` in one read transaction. `quota_limit` is `quota.calls_per_day`.
pub async fn read_status(db: &Database, quota_limit: i64, clock: Clock) -> anyhow::Result<Status> {
    let mut tx = db.snapshot().await?;
    let daemon = DaemonView::observe(db, &mut tx).await?;
    let frame = daemon.frame(clock);
    let now = frame.now_ms();
    let counts = figures::counts(&mut tx).await?;
    let schedule = figures::schedule(&mut tx, counts.pending, now).await?;
    let mut quota = quota::usage(&mut tx, now, quota_limit).await?;
    quota.next_free_at = quota.next_free_at.map(|t| frame.to_wall_ms(t));
    let failed_ids = sqlx::query_scalar(figures::NEWEST_FAILED)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Status {
        database: db.path.clone(),
        now_ms: frame.wall_now_ms(),
        daemon,
        counts,
        oldest_pending: schedule.oldest,
        due_now: schedule.due_now,
        next_retry_at_ms: schedule.next_retry.map(|t| frame.to_wall_ms(t)),
        quota,
        failed_ids,
    })
}

impl Status {
    /// What needs a person, one sentence each; empty when all is well. `status` exits non-zero
    /// when there is any.
    pub fn attention(&self) -> Vec<String> {
        [
            self.no_daemon(),
            self.silent_for().map(|silent| {
                format!(
                    "the daemon holds the database's lock but has not saved its state for {}; it \
                     may be stuck",
                    age(silent)
                )
            }),
            self.token_refused(),
            self.quota_spent(),
            self.failed_rows(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// No daemon runs. Even with nothing waiting this needs a person: nothing added from now on
    /// would go out, and monitoring must see a dead daemon before rows pile up.
    fn no_daemon(&self) -> Option<String> {
        if self.daemon.running {
            return None;
        }
        let waiting = self.counts.pending + self.counts.in_flight;
        if waiting == 0 {
            return Some(
                "no daemon is running on this database: rows added now will not be delivered \
                 until one starts (systemctl start profile-outbox)"
                    .into(),
            );
        }
        let since = self
            .oldest_pending
            .map(|(_, at)| format!(", the oldest added {}", relative(at, self.now_ms)))
            .unwrap_or_default();
        Some(format!(
            "no daemon is running on this database, and {} to be sent{since}; start it \
             (systemctl start profile-outbox)",
            waits(waiting, "row")
        ))
    }

    fn token_refused(&self) -> Option<String> {
        let refused = self
            .daemon
            .pause()
            .is_some_and(|(r, _)| r == "unauthorized");
        refused.then(|| {
            "Target refuses the token: under systemd write a valid one into \
             /etc/profile-outbox/token and `systemctl restart profile-outbox`; otherwise into the \
             file named by target.token_file (the daemon re-reads it when it changes)"
                .into()
        })
    }

    /// Rows are due and the quota lets none go: the host's share may be too small.
    fn quota_spent(&self) -> Option<String> {
        let until = self.quota.next_free_at.filter(|_| self.due_now > 0)?;
        Some(format!(
            "the quota is spent: {} until {} ({} of {} calls used in the last 24 hours); if this \
             recurs, this host's share (quota.calls_per_day) is too small for its traffic",
            waits(self.due_now, "row due now"),
            when(until, self.now_ms),
            self.quota.used,
            self.quota.limit
        ))
    }

    fn failed_rows(&self) -> Option<String> {
        (self.counts.failed > 0).then(|| {
            let ids: Vec<String> = self.failed_ids.iter().map(i64::to_string).collect();
            let no_profile = match self.counts.failed_no_profile {
                0 => String::new(),
                n => format!(
                    " ({n} of them because Target has no profile for their visitor: check the ids \
                     the producer writes, then retry or cancel them)"
                ),
            };
            format!(
                "{} for an operator{no_profile} (newest: {}); see `profile-outbox list --state \
                 failed` and `profile-outbox show ID`",
                waits(self.counts.failed, "failed row"),
                ids.join(", ")
            )
        })
    }

    /// What holds delivery back: the running daemon's own pause (`slow_down`, `endpoint_down`,
    /// `unauthorized`), else a spent quota, read from the ledger whether or not a daemon runs.
    /// The reason and until when (wall clock; `None` while probing).
    pub fn pause(&self) -> Option<(&str, Option<i64>)> {
        self.daemon.pause().or_else(|| {
            self.quota
                .next_free_at
                .map(|until| ("quota_spent", Some(until)))
        })
    }

    /// How long a running daemon has been silent, when that is longer than it should be.
    fn silent_for(&self) -> Option<i64> {
        let heartbeat = self.daemon.saved.as_ref()?.heartbeat_at?;
        let silent = self.now_ms.saturating_sub(heartbeat);
        (self.daemon.running && silent > HEARTBEAT_STALE_MS).then_some(silent)
    }
}

/// `1 row waits`, `2 rows wait`.
fn waits(n: i64, noun: &str) -> String {
    let verb = if n == 1 { "waits" } else { "wait" };
    format!("{} {verb}", words::count(n, noun))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::SavedState;

    const NOW: i64 = 1_795_874_707_000;

    fn status(running: bool, counts: Counts) -> Status {
        Status {
            database: PathBuf::from("outbox.db"),
            now_ms: NOW,
            daemon: DaemonView {
                running,
                saved: Some(SavedState {
                    heartbeat_at: Some(NOW - 1_000),
                    circuit: "closed".into(),
                    ..SavedState::default()
                }),
            },
            counts,
            oldest_pending: None,
            due_now: 0,
            next_retry_at_ms: None,
            quota: Usage {
                used: 0,
                limit: 100,
                next_free_at: None,
            },
            failed_ids: Vec::new(),
        }
    }

    #[test]
    fn a_running_daemon_with_nothing_failed_needs_nobody() {
        let counts = Counts {
            pending: 5,
            delivered: 9,
            ..Counts::default()
        };
        assert!(status(true, counts).attention().is_empty());
    }

    #[test]
    fn an_idle_outbox_without_a_daemon_still_needs_a_person() {
        let counts = Counts {
            delivered: 9,
            cancelled: 1,
            ..Counts::default()
        };
        let reasons = status(false, counts).attention();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].contains("no daemon is running"), "{reasons:?}");
    }

    #[test]
    fn a_spent_quota_with_rows_due_needs_a_person_and_is_the_pause() {
        let mut s = status(
            true,
            Counts {
                pending: 1,
                ..Counts::default()
            },
        );
        s.quota.used = 100;
        s.quota.next_free_at = Some(NOW + 120_000);
        assert!(
            s.attention().is_empty(),
            "nothing due: nothing waits on the quota"
        );
        assert_eq!(s.pause(), Some(("quota_spent", Some(NOW + 120_000))));
        s.due_now = 1;
        let reasons = s.attention().join("\n");
        assert!(
            reasons.contains("the quota is spent: 1 row due now waits until")
                && reasons.contains("(in 2m)"),
            "{reasons}"
        );
    }

    #[test]
    fn rows_waiting_without_a_daemon_need_a_person() {
        let counts = Counts {
            pending: 2,
            ..Counts::default()
        };
        let reasons = status(false, counts).attention();
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("no daemon is running"), "{reasons:?}");
    }

    #[test]
    fn failed_rows_a_refused_token_and_a_silent_daemon_each_need_a_person() {
        let mut s = status(
            true,
            Counts {
                failed: 2,
                failed_no_profile: 0,
                ..Counts::default()
            },
        );
        s.failed_ids = vec![9, 4];
        if let Some(saved) = s.daemon.saved.as_mut() {
            saved.pause_reason = Some("unauthorized".into());
            saved.heartbeat_at = Some(NOW - HEARTBEAT_STALE_MS - 1_000);
        }
        let reasons = s.attention().join("\n");
        assert!(
            reasons.contains("2 failed rows wait for an operator") && reasons.contains("9, 4"),
            "{reasons}"
        );
        assert!(reasons.contains("refuses the token"), "{reasons}");
        assert!(reasons.contains("may be stuck"), "{reasons}");
    }
}
