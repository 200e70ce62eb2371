//! What the answers to a plan's requests mean for each of its rows. Pure, so every branch is
//! unit-tested.
//!
//! A plan's parts go out in order and sending stops at the first part not acknowledged in full.
//! Rows of the parts before it are delivered; the rows of that part are decided by its answer;
//! rows after it were not sent and go back to pending as they were.

use super::suspects::STRIKES_TO_FAIL;
use super::{Plan, backoff, decide};
use crate::adobe::Outcome;
use crate::clock::millis;
use crate::config::RetrySettings;
use crate::outbox::{Decision, RowResult};

/// How far sending a plan got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Leading parts whose every request Target acknowledged.
    pub delivered_parts: usize,
    /// The status of the last acknowledged request.
    pub delivered_status: u16,
    /// The answer that stopped the plan, in the part after those; `None` when that part was not
    /// sent (shutdown, a pause, the quota) or its answer never came.
    pub stopped_by: Option<Outcome>,
    /// Requests made for the part that stopped the plan.
    pub stopped_requests: u32,
    /// When not 0: the answer reads as "Target is unusable for everyone", but it came for rows
    /// whose request met such an answer before, while Target answered everyone else. It is these
    /// rows' fault, and this is their strike count so far (see `Suspects`).
    pub strikes: u32,
}

impl Plan {
    /// Decides every row of the plan from how far its sending got.
    pub fn settle(
        self,
        progress: &Progress,
        retry: &RetrySettings,
        now_ms: i64,
        jitter: f64,
    ) -> Vec<RowResult> {
        let mut results = self.set_aside;
        for (index, part) in self.parts.into_iter().enumerate() {
            let combined = part.rows.len() > 1;
            let ids: Vec<String> = part.rows.iter().map(|r| r.id.to_string()).collect();
            let newest = part.rows.last().map(|r| r.id);
            let requests = u32::try_from(part.requests.len()).unwrap_or(u32::MAX);
            for row in part.rows {
                let (requests, decision) = if index < progress.delivered_parts {
                    (
                        requests,
                        Decision::Delivered {
                            status: progress.delivered_status,
                        },
                    )
                } else if index > progress.delivered_parts {
                    (0, Decision::HandBack)
                } else {
                    let share = Share {
                        combined,
                        ids: &ids,
                        newest: Some(row.id) == newest,
                    };
                    let decision = stopped(progress, share, row.attempts, retry, now_ms, jitter);
                    (progress.stopped_requests, decision)
                };
                if let Decision::Failed { reason, .. } = &decision {
                    tracing::warn!(row = row.id, reason = %reason, "row set aside as failed");
                }
                results.push(RowResult {
                    id: row.id,
                    requests,
                    decision,
                });
            }
        }
        results
    }

    /// Every row back to pending as it was: nothing of the plan was sent.
    pub fn hand_back(self) -> Vec<RowResult> {
        self.settle(&Progress::default(), &RETRY_UNUSED, 0, 0.0)
    }

    /// The quota has fewer calls left than the plan's first part needs (`needed`): its rows wait
    /// until `at_ms`, when enough calls have left the window, without an attempt counted, so other
    /// visitors' smaller updates can use what is left meanwhile. With `at_ms` `None` the part can
    /// never be sent (it needs more calls than the whole quota): its rows fail with the reason.
    pub fn wait_for_quota(self, needed: i64, limit: i64, at_ms: Option<i64>) -> Vec<RowResult> {
        let mut results = self.set_aside;
        for (index, part) in self.parts.into_iter().enumerate() {
            for row in part.rows {
                let decision = match at_ms {
                    Some(at_ms) => Decision::Retry {
                        attempts: row.attempts,
                        at_ms,
                        status: None,
                        error: format!(
                            "waiting for the quota: this visitor's update needs {needed} calls, \
                             more than the rolling 24 hours have left"
                        ),
                    },
                    None if index == 0 => Decision::Failed {
                        attempts: row.attempts,
                        status: None,
                        reason: format!(
                            "attributes: the row needs {needed} requests, more than \
                             quota.calls_per_day ({limit}) allows in 24 hours"
                        ),
                    },
                    None => Decision::HandBack,
                };
                results.push(RowResult {
                    id: row.id,
                    requests: 0,
                    decision,
                });
            }
        }
        results
    }
}

/// The text that starts the reason of a row failed for want of a profile; `status` and `show`
/// know such rows by it.
pub const NO_PROFILE: &str = "Target has no profile for this visitor";

impl Plan {
    /// Target has no profile for the plan's visitor yet: its rows wait until `at_ms`, without an
    /// attempt counted; or, with `at_ms` `None` (`target.profile_wait` is over), fail.
    pub fn wait_for_profile(self, at_ms: Option<i64>, missing: &str) -> Vec<RowResult> {
        let mut results = self.set_aside;
        for part in self.parts {
            for row in part.rows {
                let decision = match at_ms {
                    Some(at_ms) => Decision::Retry {
                        attempts: row.attempts,
                        at_ms,
                        status: Some(404),
                        error: format!("{NO_PROFILE} yet ({missing}); the row waits for one"),
                    },
                    None => Decision::Failed {
                        attempts: row.attempts,
                        status: Some(404),
                        reason: format!(
                            "{NO_PROFILE}; the single update API cannot create one ({missing})"
                        ),
                    },
                };
                results.push(RowResult {
                    id: row.id,
                    requests: 0,
                    decision,
                });
            }
        }
        results
    }
}

/// Settling a plan that was not sent reads no retry setting.
const RETRY_UNUSED: RetrySettings = RetrySettings {
    initial_delay: std::time::Duration::ZERO,
    max_delay: std::time::Duration::ZERO,
    max_attempts: std::num::NonZeroU32::MIN,
    max_retry_after: std::time::Duration::ZERO,
};

/// A row's place in the part that stopped the plan.
#[derive(Clone, Copy)]
struct Share<'a> {
    /// The part combined several rows.
    combined: bool,
    /// The part's row ids, oldest first.
    ids: &'a [String],
    /// This row is the part's newest.
    newest: bool,
}

/// The decision for a row of the part that stopped the plan.
fn stopped(
    progress: &Progress,
    share: Share,
    attempts: i64,
    retry: &RetrySettings,
    now_ms: i64,
    jitter: f64,
) -> Decision {
    let Some(outcome) = &progress.stopped_by else {
        return Decision::HandBack;
    };
    let Share {
        combined,
        ids,
        newest,
    } = share;
    // Target refused a combined update: its newest row goes on its own from now on, the older
    // rows again together. Every request for the visitor then still carries, for each
    // attribute, a value at least as new as any an earlier combined update of these rows
    // carried, even one whose answer was lost after Target applied it; sending every row alone
    // would put the oldest row's value after it (docs/delivery.md, "Splitting along rows").
    if combined && matches!(outcome, Outcome::Rejected { .. }) {
        let error = format!(
            "Target refused an update combining rows {}; row {} is now sent on its own, after the \
             older ones. {}",
            ids.join(", "),
            ids.last().map_or("", String::as_str),
            outcome.describe()
        );
        return if newest {
            Decision::SendAlone {
                status: outcome.status(),
                error,
            }
        } else {
            Decision::Retry {
                attempts,
                at_ms: now_ms,
                status: outcome.status(),
                error,
            }
        };
    }
    // A combined update meeting an outage again and again while everyone else's requests get
    // through is split row by row after as many strikes as fail a single row: a strike or two
    // that a flaky network can produce is not enough to split.
    if combined && progress.strikes >= STRIKES_TO_FAIL {
        return Decision::SendAlone {
            status: outcome.status(),
            error: format!(
                "An update combining rows {} met an outage {} times while Target answered \
                 other rows; each is now sent on its own. {}",
                ids.join(", "),
                progress.strikes,
                outcome.describe()
            ),
        };
    }
    if progress.strikes > 0 {
        return struck(outcome, progress.strikes, attempts, retry, now_ms, jitter);
    }
    decide(outcome, attempts, retry, now_ms, jitter)
}

/// A row's request met an outage or a refused token again while other rows' requests went
/// through: it waits longer each time, pausing nobody else, and fails after `STRIKES_TO_FAIL`.
/// Its `attempts`, which count Target's refusals, are left as they are.
fn struck(
    outcome: &Outcome,
    strikes: u32,
    attempts: i64,
    retry: &RetrySettings,
    now_ms: i64,
    jitter: f64,
) -> Decision {
    let what = format!(
        "{} {strikes} times in a row for this row's request while Target accepted other rows' requests",
        outcome.describe()
    );
    if strikes >= STRIKES_TO_FAIL {
        return Decision::Failed {
            attempts,
            status: outcome.status(),
            reason: format!(
                "{what}; the row's own values are the likely cause (a firewall refusing one, or one \
                 that breaks the server)"
            ),
        };
    }
    let wait = backoff(retry.initial_delay, retry.max_delay, strikes, jitter);
    Decision::Retry {
        attempts,
        at_ms: now_ms.saturating_add(millis(wait)),
        status: outcome.status(),
        error: what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adobe::PreparedRequest;
    use crate::config::Method;
    use crate::delivery::group::Part;
    use crate::outbox::ClaimedRow;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn retry() -> RetrySettings {
        RetrySettings {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: NonZeroU32::MIN.saturating_add(4),
            max_retry_after: Duration::from_secs(60),
        }
    }

    fn row(id: i64) -> ClaimedRow {
        ClaimedRow {
            id,
            mbox_pc: Some("1-1.01_00".into()),
            mbox_3rd_party_id: None,
            attributes: r#"{"a":"1"}"#.into(),
            attempts: 0,
        }
    }

    fn request() -> PreparedRequest {
        PreparedRequest {
            method: Method::Get,
            url: "http://127.0.0.1:9/".into(),
            body: None,
        }
    }

    /// A plan of parts with the given row ids, one request each.
    fn plan(parts: &[&[i64]]) -> Plan {
        Plan {
            parts: parts
                .iter()
                .map(|ids| Part {
                    rows: ids.iter().copied().map(row).collect(),
                    requests: vec![request()],
                })
                .collect(),
            set_aside: Vec::new(),
        }
    }

    fn refused() -> Outcome {
        Outcome::Rejected {
            status: 400,
            reason: "bad".into(),
        }
    }

    fn kinds(results: &[RowResult]) -> Vec<(i64, &'static str)> {
        results
            .iter()
            .map(|r| {
                let kind = match r.decision {
                    Decision::Delivered { .. } => "delivered",
                    Decision::Retry { .. } => "retry",
                    Decision::Failed { .. } => "failed",
                    Decision::SendAlone { .. } => "alone",
                    Decision::HandBack => "back",
                };
                (r.id, kind)
            })
            .collect()
    }

    #[test]
    fn rows_of_parts_target_took_are_delivered_and_only_the_refused_parts_newest_row_is_sent_alone()
    {
        let progress = Progress {
            delivered_parts: 1,
            delivered_status: 200,
            stopped_by: Some(refused()),
            stopped_requests: 1,
            strikes: 0,
        };
        let results = plan(&[&[1, 2], &[3, 4], &[5]]).settle(&progress, &retry(), 0, 0.5);
        assert_eq!(
            kinds(&results),
            [
                (1, "delivered"),
                (2, "delivered"),
                (3, "retry"),
                (4, "alone"),
                (5, "back")
            ]
        );
        assert!(
            matches!(
                results[2].decision,
                Decision::Retry {
                    attempts: 0,
                    at_ms: 0,
                    ..
                }
            ),
            "the older rows go again together at once, no attempt counted: {:?}",
            results[2].decision
        );
        assert_eq!(results[4].requests, 0, "the last part was never sent");
    }

    #[test]
    fn an_unanswered_part_is_handed_back_and_the_parts_before_it_are_delivered() {
        let progress = Progress {
            delivered_parts: 1,
            delivered_status: 200,
            stopped_by: None,
            stopped_requests: 1,
            strikes: 0,
        };
        let results = plan(&[&[1], &[2]]).settle(&progress, &retry(), 0, 0.5);
        assert_eq!(kinds(&results), [(1, "delivered"), (2, "back")]);
    }

    #[test]
    fn rows_waiting_for_the_quota_keep_their_attempts_and_a_row_that_never_fits_fails() {
        let waiting = plan(&[&[1], &[2]]).wait_for_quota(2, 10, Some(5_000));
        assert!(waiting.iter().all(|r| matches!(
            r.decision,
            Decision::Retry {
                attempts: 0,
                at_ms: 5_000,
                status: None,
                ..
            }
        )));
        let never = plan(&[&[1], &[2]]).wait_for_quota(2, 1, None);
        assert_eq!(kinds(&never), [(1, "failed"), (2, "back")]);
    }

    #[test]
    fn a_refused_single_row_counts_an_attempt() {
        let progress = Progress {
            stopped_by: Some(refused()),
            stopped_requests: 1,
            ..Progress::default()
        };
        let results = plan(&[&[1]]).settle(&progress, &retry(), 0, 0.5);
        assert!(matches!(
            results[0].decision,
            Decision::Retry { attempts: 1, .. }
        ));
    }

    #[test]
    fn an_outage_leaves_the_row_due_at_once_but_a_struck_row_waits_and_finally_fails() {
        let down = Outcome::EndpointDown {
            status: Some(500),
            reason: "server error".into(),
        };
        let mut progress = Progress {
            stopped_by: Some(down),
            stopped_requests: 1,
            ..Progress::default()
        };
        let outage = plan(&[&[1]]).settle(&progress, &retry(), 7, 0.5);
        assert!(matches!(
            outage[0].decision,
            Decision::Retry {
                attempts: 0,
                at_ms: 7,
                ..
            }
        ));
        progress.strikes = 3;
        let struck = plan(&[&[1]]).settle(&progress, &retry(), 7, 0.5);
        assert!(
            matches!(&struck[0].decision, Decision::Retry { attempts: 0, at_ms, error, .. }
                if *at_ms > 7 && error.contains("3 times in a row")),
            "{struck:?}"
        );
        let combined = plan(&[&[1, 2]]).settle(&progress, &retry(), 7, 0.5);
        assert_eq!(
            kinds(&combined),
            [(1, "retry"), (2, "retry")],
            "a few strikes do not split a combined update"
        );
        progress.strikes = STRIKES_TO_FAIL;
        let split = plan(&[&[1, 2]]).settle(&progress, &retry(), 7, 0.5);
        assert_eq!(kinds(&split), [(1, "alone"), (2, "alone")]);
        let failed = plan(&[&[1]]).settle(&progress, &retry(), 7, 0.5);
        assert!(
            matches!(&failed[0].decision, Decision::Failed { attempts: 0, reason, .. }
                if reason.contains("other rows")),
            "{failed:?}"
        );
    }
}
