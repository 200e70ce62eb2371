//! Judges a finished history against every invariant, from the fake Target's log.

use crate::invariant::{Invariant, Violation};
use crate::rows::Expect;
use crate::target::Received;
use crate::world::Outcome;
use std::collections::{BTreeMap, HashMap};

const DAY_MS: i64 = 86_400_000;
/// Rounds per simulated second that may claim rows without sending or finishing any.
pub const BUSY_LIMIT: u32 = 10;

/// Which rows carried each (visitor, attribute, value).
type Carriers = HashMap<(String, String, String), Vec<i64>>;

pub fn check(outcome: &Outcome, calls_per_day: u32) -> Vec<Violation> {
    let carriers = carriers(outcome);
    let mut found = Vec::new();
    exact_values(outcome, &carriers, &mut found);
    older_after_newer(outcome, &carriers, &mut found);
    quota_window(&outcome.received, calls_per_day, &mut found);
    row_accounting(outcome, &carriers, &mut found);
    if let Some(unsettled) = &outcome.unsettled
        && !a_poison_row_waits_alone(outcome)
    {
        found.push(violation(Invariant::Liveness, unsettled.clone()));
    }
    busy_loop(outcome, &mut found);
    found
}

/// A poison row (its requests always meet an outage-like answer) still pending: with no other
/// request getting through, the daemon cannot tell it from an outage and waits as in one, as
/// docs/delivery.md says, and rows behind it or short of quota wait with it. Liveness is not judged
/// then; the other invariants are.
fn a_poison_row_waits_alone(outcome: &Outcome) -> bool {
    outcome.rows.iter().any(|(id, row)| {
        row.expect == Expect::Poison
            && outcome
                .states
                .get(id)
                .is_some_and(|(state, _)| state == "pending" || state == "in_flight")
    })
}

fn violation(invariant: Invariant, detail: String) -> Violation {
    Violation { invariant, detail }
}

fn carriers(outcome: &Outcome) -> Carriers {
    let mut map: Carriers = HashMap::new();
    for (id, row) in &outcome.rows {
        for (name, value) in &row.values {
            map.entry((row.visitor.clone(), name.clone(), value.clone()))
                .or_default()
                .push(*id);
        }
    }
    map
}

fn exact_values(outcome: &Outcome, carriers: &Carriers, found: &mut Vec<Violation>) {
    for request in &outcome.received {
        if let Some(stray) = request.stray.first() {
            found.push(violation(
                Invariant::ExactValues,
                format!(
                    "request for {:?} carried a parameter no row asked for: {stray:?}",
                    request.visitor
                ),
            ));
            return;
        }
        for (name, value) in &request.params {
            let key = (request.visitor.clone(), name.clone(), value.clone());
            if !carriers.contains_key(&key) {
                found.push(violation(
                    Invariant::ExactValues,
                    format!(
                        "Target received {name}={value:?} for {:?}, which no row of that visitor carried",
                        request.visitor
                    ),
                ));
                return;
            }
        }
    }
}

/// A row an operator cancelled is withdrawn: if a request sent before the cancel carried its
/// value (its answer lost), an older row's value sent afterwards is what cancelling asked for
/// (README, "cancel"). Only rows that were not cancelled count as newer.
fn older_after_newer(outcome: &Outcome, carriers: &Carriers, found: &mut Vec<Violation>) {
    let cancelled = |id: &i64| {
        let state = outcome
            .states
            .get(id)
            .map(|(s, _)| s)
            .or(outcome.purged.get(id));
        state.is_some_and(|s| s == "cancelled")
    };
    // Per (visitor, attribute): the newest row whose value Target has applied so far, and when.
    let mut newest: HashMap<(String, String), (i64, i64)> = HashMap::new();
    for request in outcome.received.iter().filter(|r| r.applied) {
        for (name, value) in &request.params {
            let key = (request.visitor.clone(), name.clone(), value.clone());
            let Some(rows) = carriers.get(&key) else {
                continue;
            };
            let rows: Vec<i64> = rows.iter().copied().filter(|id| !cancelled(id)).collect();
            if rows.is_empty() {
                continue;
            }
            let (lowest, highest) = (min(&rows), max(&rows));
            let slot = (request.visitor.clone(), name.clone());
            if let Some((newer, at)) = newest.get(&slot)
                && highest < *newer
            {
                found.push(violation(
                        Invariant::OlderAfterNewer,
                        format!(
                            "{:?}, attribute {name}: row {highest}'s value applied at {} after row {newer}'s at {at}",
                            request.visitor, request.at_ms
                        ),
                    ));
                return;
            }
            let entry = newest.entry(slot).or_insert((lowest, request.at_ms));
            if lowest >= entry.0 {
                *entry = (lowest, request.at_ms);
            }
        }
    }
}

fn min(rows: &[i64]) -> i64 {
    rows.iter().copied().min().unwrap_or(i64::MIN)
}

fn max(rows: &[i64]) -> i64 {
    rows.iter().copied().max().unwrap_or(i64::MAX)
}

fn quota_window(received: &[Received], limit: u32, found: &mut Vec<Violation>) {
    let mut times: Vec<i64> = received.iter().map(|r| r.at_ms).collect();
    times.sort_unstable();
    let limit = limit as usize;
    let mut end = 0;
    for (start, at) in times.iter().enumerate() {
        while end < times.len() && times[end] < at + DAY_MS {
            end += 1;
        }
        if end - start > limit {
            found.push(violation(
                Invariant::QuotaWindow,
                format!(
                    "{} requests reached Target in the 24 hours from {at} (limit {limit}); {} requests in all",
                    end - start,
                    times.len()
                ),
            ));
            return;
        }
    }
}

fn row_accounting(outcome: &Outcome, carriers: &Carriers, found: &mut Vec<Violation>) {
    let applied = applied_values(&outcome.received);
    for (id, row) in &outcome.rows {
        let state = match (outcome.states.get(id), outcome.purged.get(id)) {
            (Some((state, error)), _) => {
                if state == "failed" && error.as_deref().is_none_or(|e| e.trim().is_empty()) {
                    found.push(violation(
                        Invariant::RowAccounting,
                        format!("row {id} failed without a reason"),
                    ));
                }
                state.as_str()
            }
            (None, Some(state)) => state.as_str(),
            (None, None) => {
                found.push(violation(
                    Invariant::RowAccounting,
                    format!("row {id} was lost: it is gone and was never purged"),
                ));
                continue;
            }
        };
        if state == "delivered"
            && let Some(problem) = unacknowledged(*id, row, &applied, carriers)
        {
            found.push(violation(Invariant::RowAccounting, problem));
        }
        let error = outcome.states.get(id).and_then(|(_, e)| e.clone());
        if state == "failed"
            && row.expect == Expect::Deliverable
            && !refused_by_target(row, &outcome.received)
            && !needs_more_than_the_quota(error.as_deref())
        {
            found.push(violation(
                Invariant::RowAccounting,
                format!("row {id} failed though Target never refused it: {error:?}"),
            ));
        }
    }
}

/// Every value Target applied, per visitor and attribute.
fn applied_values(received: &[Received]) -> BTreeMap<(String, String), Vec<String>> {
    let mut applied: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for request in received.iter().filter(|r| r.applied) {
        for (name, value) in &request.params {
            applied
                .entry((request.visitor.clone(), name.clone()))
                .or_default()
                .push(value.clone());
        }
    }
    applied
}

/// Why a delivered row's values never reached Target, if they did not: for each of its
/// attributes, Target must have applied its value or a newer row's (values no row carried are
/// `ExactValues`' to report).
fn unacknowledged(
    id: i64,
    row: &crate::rows::RowSpec,
    applied: &BTreeMap<(String, String), Vec<String>>,
    carriers: &Carriers,
) -> Option<String> {
    if row.expect == Expect::Invalid {
        return Some(format!("row {id} breaks Target's rules but is delivered"));
    }
    for (name, _) in &row.values {
        let values = applied.get(&(row.visitor.clone(), name.clone()));
        let covered = values.is_some_and(|values| {
            values.iter().any(|value| {
                carriers
                    .get(&(row.visitor.clone(), name.clone(), value.clone()))
                    .is_none_or(|rows| max(rows) >= id)
            })
        });
        if !covered {
            return Some(format!(
                "row {id} is delivered but Target never applied its {name} (nor a newer row's)"
            ));
        }
    }
    None
}

/// Target refused (4xx other than 401, 403 and 429) a request carrying one of the row's values.
/// A row split into more requests than `quota.calls_per_day` allows in a whole day can never be
/// sent; failing it with that reason is the daemon's job, not a broken promise.
fn needs_more_than_the_quota(error: Option<&str>) -> bool {
    error.is_some_and(|e| e.contains("more than quota.calls_per_day"))
}

fn refused_by_target(row: &crate::rows::RowSpec, received: &[Received]) -> bool {
    received.iter().any(|r| {
        r.visitor == row.visitor
            && r.status
                .is_some_and(|s| (400..500).contains(&s) && ![401, 403, 429].contains(&s))
            && r.params.iter().any(|pair| row.values.contains(pair))
    })
}

fn busy_loop(outcome: &Outcome, found: &mut Vec<Violation>) {
    if let Some((second, rounds)) = outcome.stats.idle_claims.iter().max_by_key(|(_, n)| **n)
        && *rounds > BUSY_LIMIT
    {
        found.push(violation(
            Invariant::BusyLoop,
            format!(
                "{rounds} rounds claimed rows in simulated second {second} without sending a request or finishing a row"
            ),
        ));
    }
}
