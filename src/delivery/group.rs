//! One visitor's claimed rows, from check to decision: which rows are set aside, which requests
//! carry the rest, and what the answer means for each row. Pure, so every branch is unit-tested.

use super::{decide, problem_decision};
use crate::config::RetrySettings;
use crate::outbox::{ClaimedRow, Decision, RowResult};
use crate::target::{Endpoint, Outcome, PreparedRequest, ProfileUpdate, prepare};

/// What to send for one group, and the rows it carries.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Rows that passed the checks, oldest first; the requests carry all of them.
    pub rows: Vec<ClaimedRow>,
    /// Rows that break Target's rules: already decided, never sent.
    pub set_aside: Vec<RowResult>,
    pub requests: Vec<PreparedRequest>,
}

impl Plan {
    /// Checks every row, merges the good ones (newest value wins) and builds their requests.
    pub fn new(group: Vec<ClaimedRow>, endpoint: &Endpoint) -> Plan {
        let mut rows = Vec::with_capacity(group.len());
        let mut updates = Vec::with_capacity(group.len());
        let mut set_aside = Vec::new();
        for row in group {
            match ProfileUpdate::from_row(
                row.mbox_pc.as_deref(),
                row.mbox_3rd_party_id.as_deref(),
                &row.attributes,
            ) {
                Ok(update) => {
                    updates.push(update);
                    rows.push(row);
                }
                Err(problem) => {
                    tracing::warn!(row = row.id, reason = %problem, "row set aside as failed before sending");
                    set_aside.push(RowResult {
                        id: row.id,
                        requests: 0,
                        decision: problem_decision(&problem, row.attempts),
                    });
                }
            }
        }
        let requests = match ProfileUpdate::merge(updates).map(|update| prepare(endpoint, &update))
        {
            Some(Ok(requests)) => requests,
            Some(Err(problem)) => {
                // Cannot happen within Target's per-row limits; if it does, no row is lost.
                set_aside.extend(rows.drain(..).map(|row| RowResult {
                    id: row.id,
                    requests: 0,
                    decision: problem_decision(&problem, row.attempts),
                }));
                Vec::new()
            }
            None => Vec::new(),
        };
        Plan {
            rows,
            set_aside,
            requests,
        }
    }

    /// Decides every row of the plan. `outcome` is the answer to the last request sent (`None`
    /// when nothing was sent, or its answer never came), `sent` how many requests went out.
    pub fn settle(
        self,
        outcome: Option<&Outcome>,
        sent: u32,
        retry: &RetrySettings,
        now_ms: i64,
        jitter: f64,
    ) -> Vec<RowResult> {
        let combined = self.rows.len() > 1;
        let mut results = self.set_aside;
        let ids: Vec<String> = self.rows.iter().map(|r| r.id.to_string()).collect();
        for row in self.rows {
            let decision = match outcome {
                None => Decision::HandBack,
                Some(Outcome::Rejected { status, .. }) if combined => Decision::SendAlone {
                    status: Some(*status),
                    error: format!(
                        "Target refused an update combining rows {}; each is now sent on its own. {}",
                        ids.join(", "),
                        outcome.map(Outcome::describe).unwrap_or_default()
                    ),
                },
                Some(outcome) => decide(outcome, row.attempts, retry, now_ms, jitter),
            };
            if let Decision::Failed { reason, .. } = &decision {
                tracing::warn!(row = row.id, reason = %reason, "row set aside as failed");
            }
            results.push(RowResult {
                id: row.id,
                requests: sent,
                decision,
            });
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn row(id: i64, attributes: &str) -> ClaimedRow {
        ClaimedRow {
            id,
            mbox_pc: Some("1-1.01_00".into()),
            mbox_3rd_party_id: None,
            attributes: attributes.into(),
            attempts: 0,
        }
    }

    fn endpoint() -> Endpoint {
        let base = url::Url::parse("http://127.0.0.1:9").map_err(|e| e.to_string());
        let Ok(base) = base else {
            panic!("bad test URL")
        };
        Endpoint::new(&base, "acme", Method::Get)
    }

    fn retry() -> RetrySettings {
        RetrySettings {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: NonZeroU32::MIN.saturating_add(4),
            max_retry_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_group_is_one_request_with_the_newest_values_and_bad_rows_set_aside() {
        let plan = Plan::new(
            vec![
                row(1, r#"{"tier":"silver","a":"1"}"#),
                row(2, r#"{"tier":[]}"#),
                row(3, r#"{"tier":"gold"}"#),
            ],
            &endpoint(),
        );
        assert_eq!(plan.rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(plan.set_aside.len(), 1);
        assert_eq!(plan.requests.len(), 1);
        assert!(
            plan.requests[0]
                .url
                .ends_with("?mboxPC=1-1.01_00&profile.a=1&profile.tier=gold"),
            "{}",
            plan.requests[0].url
        );
        let results = plan.settle(
            Some(&Outcome::Delivered { status: 200 }),
            1,
            &retry(),
            0,
            0.5,
        );
        let delivered = results
            .iter()
            .filter(|r| matches!(r.decision, Decision::Delivered { .. }))
            .count();
        assert_eq!((results.len(), delivered), (3, 2));
    }

    #[test]
    fn a_refused_combined_update_sends_each_row_alone_without_counting_attempts() {
        let plan = Plan::new(
            vec![row(1, r#"{"a":"1"}"#), row(2, r#"{"b":"2"}"#)],
            &endpoint(),
        );
        let refused = Outcome::Rejected {
            status: 400,
            reason: "bad".into(),
        };
        for result in plan.settle(Some(&refused), 1, &retry(), 0, 0.5) {
            assert!(
                matches!(
                    result.decision,
                    Decision::SendAlone {
                        status: Some(400),
                        ..
                    }
                ),
                "{result:?}"
            );
        }
    }

    #[test]
    fn a_refused_single_row_counts_an_attempt_and_an_unsent_plan_is_handed_back() {
        let refused = Outcome::Rejected {
            status: 400,
            reason: "bad".into(),
        };
        let alone = Plan::new(vec![row(1, r#"{"a":"1"}"#)], &endpoint()).settle(
            Some(&refused),
            1,
            &retry(),
            0,
            0.5,
        );
        assert!(matches!(
            alone[0].decision,
            Decision::Retry { attempts: 1, .. }
        ));
        let unsent =
            Plan::new(vec![row(1, r#"{"a":"1"}"#)], &endpoint()).settle(None, 0, &retry(), 0, 0.5);
        assert_eq!(unsent[0].decision, Decision::HandBack);
    }
}
