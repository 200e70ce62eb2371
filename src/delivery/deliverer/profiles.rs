//! Looking visitors up before their updates (`target.check_profile`): Target's update API only
//! updates profiles it already has and answers the same for a visitor it has never seen, so a
//! round asks the profile fetch API first about each visitor it does not already know.

use super::Deliverer;
use crate::adobe::{Check, Outcome};
use crate::clock::millis;
use crate::delivery::Plan;
use crate::delivery::{Lookup, Progress};
use crate::outbox::RowResult;
use crate::outbox::profiles::Missing;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The wait before looking a missing visitor up again, from a minute doubling to ten.
const FIRST_LOOK_AGAIN: Duration = Duration::from_secs(60);
const LAST_LOOK_AGAIN: Duration = Duration::from_secs(600);

impl Deliverer {
    /// Splits a round's plans: those whose visitor Target has a profile for (or that the lookup
    /// could not tell about) go on to be sent; the rows of a visitor it has none for wait, or fail
    /// once `target.profile_wait` is over; rows whose lookup got no usable answer go back to
    /// pending as they were (the gate pauses everyone, as for updates).
    pub(super) async fn check_profiles(
        &self,
        plans: Vec<Plan>,
        now: i64,
        stop: &CancellationToken,
    ) -> anyhow::Result<(Vec<Plan>, Vec<RowResult>)> {
        let Some(profile_wait) = self.profile_wait else {
            return Ok((plans, Vec::new()));
        };
        let keys: Vec<Option<String>> =
            plans.iter().map(|p| p.visitor().map(|v| v.key())).collect();
        let wanted: Vec<String> = keys.iter().flatten().cloned().collect();
        let known = self.store.known_profiles(&wanted, now).await?;
        let lookups = futures_util::stream::iter(plans.into_iter().zip(keys))
            .map(|(plan, key)| async {
                let lookup = match (&key, plan.visitor()) {
                    (Some(key), Some(visitor)) if !known.contains(key) => {
                        let request = self.endpoint.profile_check(&visitor);
                        Some(self.sender.check(&request, stop).await)
                    }
                    _ => None,
                };
                (plan, key, lookup)
            })
            .buffer_unordered(usize::try_from(self.workers.concurrency.get()).unwrap_or(1))
            .collect::<Vec<_>>()
            .await;
        let mut go = Vec::new();
        let mut missing: Vec<(Plan, String)> = Vec::new();
        let mut found = Vec::new();
        let mut results = Vec::new();
        for (plan, key, lookup) in lookups {
            match (lookup, key) {
                (Some(Lookup::Answered(Check::Missing)), Some(key)) => missing.push((plan, key)),
                (Some(Lookup::Answered(Check::Exists)), Some(key)) => {
                    found.push(key);
                    go.push(plan);
                }
                // Known already, nothing to look up, or the lookup itself was refused: the
                // update goes ahead.
                (None | Some(Lookup::Answered(Check::Unclear(Outcome::Rejected { .. }))), _)
                | (Some(Lookup::Answered(Check::Exists | Check::Missing)), None) => go.push(plan),
                // An outage, a slow-down, a refused token: as for an update, the rows are due
                // again at once with the answer noted, and the gate holds everyone back.
                (Some(Lookup::Answered(Check::Unclear(outcome))), _) => {
                    let progress = Progress {
                        stopped_by: Some(outcome),
                        ..Progress::default()
                    };
                    results.extend(plan.settle(&progress, &self.retry, now, rand::random()));
                }
                (Some(Lookup::Held), _) => results.extend(plan.hand_back()),
            }
        }
        let keys: Vec<String> = missing.iter().map(|(_, key)| key.clone()).collect();
        let records = self.store.profiles_looked_up(&found, &keys, now).await?;
        for ((plan, _), record) in missing.into_iter().zip(records) {
            results.extend(plan.wait_for_profile(
                look_again_at(record, now, profile_wait),
                &describe(record, now),
            ));
        }
        Ok((go, results))
    }
}

/// When to look a missing visitor up again, or `None` once `profile_wait` has passed since the
/// first lookup that found no profile.
fn look_again_at(record: Missing, now: i64, profile_wait: Duration) -> Option<i64> {
    let deadline = record.since.saturating_add(millis(profile_wait));
    if now >= deadline {
        return None;
    }
    let tries = u32::try_from(record.checks).unwrap_or(u32::MAX);
    let pause = crate::delivery::backoff(FIRST_LOOK_AGAIN, LAST_LOOK_AGAIN, tries, 1.0);
    // The last look comes at the deadline, so a profile that appears just before it still counts.
    Some(now.saturating_add(millis(pause)).min(deadline))
}

fn describe(record: Missing, now: i64) -> String {
    let minutes = now.saturating_sub(record.since) / 60_000;
    if record.checks == 1 {
        "looked up once".to_owned()
    } else {
        format!("looked up {} times over {minutes} min", record.checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_visitor_is_looked_up_again_with_growing_pauses_until_the_wait_is_over() {
        let hour = Duration::from_secs(3_600);
        let first = Missing {
            since: 0,
            checks: 1,
        };
        assert_eq!(look_again_at(first, 0, hour), Some(60_000));
        let fourth = Missing {
            since: 0,
            checks: 4,
        };
        assert_eq!(look_again_at(fourth, 1_000_000, hour), Some(1_480_000));
        let late = Missing {
            since: 0,
            checks: 9,
        };
        assert_eq!(
            look_again_at(late, 3_400_000, hour),
            Some(3_600_000),
            "the last look comes at the deadline"
        );
        assert_eq!(look_again_at(late, 3_600_000, hour), None);
    }
}
