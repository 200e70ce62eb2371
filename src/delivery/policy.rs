//! What an outcome means for the row that was sent: a pure function, so every branch is tested
//! without a server.

use super::backoff;
use crate::adobe::{Outcome, RowProblem};
use crate::clock::millis;
use crate::config::RetrySettings;
use crate::outbox::Decision;

/// The decision for a row whose request(s) ended with `outcome`. `attempts` is the row's count of
/// earlier refusals; `jitter` is a random draw in `[0, 1)`.
pub fn decide(
    outcome: &Outcome,
    attempts: i64,
    retry: &RetrySettings,
    now_ms: i64,
    jitter: f64,
) -> Decision {
    match outcome {
        Outcome::Delivered { status } => Decision::Delivered { status: *status },
        Outcome::Rejected { status, reason } => {
            let attempts = attempts.saturating_add(1);
            if attempts >= i64::from(retry.max_attempts.get()) {
                Decision::Failed {
                    attempts,
                    status: Some(*status),
                    reason: format!(
                        "Target refused the row {attempts} times; last answer HTTP {status}: {reason}"
                    ),
                }
            } else {
                let tries = u32::try_from(attempts).unwrap_or(u32::MAX);
                let wait = backoff(retry.initial_delay, retry.max_delay, tries, jitter);
                Decision::Retry {
                    attempts,
                    at_ms: now_ms.saturating_add(millis(wait)),
                    status: Some(*status),
                    error: outcome.describe(),
                }
            }
        }
        // Not the row's fault: no attempt is counted and the row is due again at once. The gate
        // holds every request back until Target is usable again.
        Outcome::SlowDown { .. } | Outcome::EndpointDown { .. } | Outcome::Unauthorized { .. } => {
            Decision::Retry {
                attempts,
                at_ms: now_ms,
                status: outcome.status(),
                error: outcome.describe(),
            }
        }
    }
}

/// The decision for a row that breaks Target's rules: failed at once, nothing sent, no attempt.
pub fn problem_decision(problem: &RowProblem, attempts: i64) -> Decision {
    Decision::Failed {
        attempts,
        status: None,
        reason: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn retry(max_attempts: u32) -> RetrySettings {
        RetrySettings {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: NonZeroU32::new(max_attempts).unwrap_or(NonZeroU32::MIN),
            max_retry_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_refused_row_backs_off_then_fails_at_max_attempts() {
        let refused = Outcome::Rejected {
            status: 400,
            reason: "bad value".into(),
        };
        assert_eq!(
            decide(&refused, 0, &retry(3), 10_000, 0.999_999),
            Decision::Retry {
                attempts: 1,
                at_ms: 10_999,
                status: Some(400),
                error: "Target refused the row (HTTP 400): bad value".into()
            }
        );
        assert!(matches!(
            decide(&refused, 1, &retry(3), 10_000, 0.0),
            Decision::Retry {
                attempts: 2,
                at_ms: 11_000,
                ..
            }
        ));
        assert!(matches!(
            decide(&refused, 2, &retry(3), 10_000, 0.0),
            Decision::Failed { attempts: 3, status: Some(400), ref reason } if reason.contains("3 times")
        ));
    }

    #[test]
    fn outages_slow_downs_and_bad_tokens_never_count_an_attempt() {
        let outcomes = [
            Outcome::SlowDown {
                status: 429,
                retry_after: None,
            },
            Outcome::EndpointDown {
                status: None,
                reason: "refused".into(),
            },
            Outcome::Unauthorized { status: 401 },
        ];
        for outcome in outcomes {
            assert!(
                matches!(
                    decide(&outcome, 4, &retry(5), 7, 0.5),
                    Decision::Retry {
                        attempts: 4,
                        at_ms: 7,
                        ..
                    }
                ),
                "{outcome:?}"
            );
        }
    }
}
