//! The checker's own cases: small hand-made histories, each breaking one promise, so a checker
//! that stopped seeing a break would fail here rather than pass every simulated history.

use crate::check::{BUSY_LIMIT, check};
use crate::invariant::Invariant;
use crate::minimise::Keep;
use crate::rows::{Cell, Expect, RowSpec};
use crate::target::Received;
use crate::world::{Outcome, Stats};
use std::collections::{BTreeMap, HashMap};

const VISITOR: &str = "mboxPC=1-1.01_00";
const DAY: i64 = 86_400_000;

fn row(marker: &str, tier: &str) -> RowSpec {
    RowSpec {
        mbox_pc: Cell::Text("1-1.01_00".to_owned()),
        third_party: Cell::Null,
        attributes: Cell::Text(String::new()),
        source: Cell::Null,
        visitor: VISITOR.to_owned(),
        values: vec![
            ("m".to_owned(), marker.to_owned()),
            ("tier".to_owned(), tier.to_owned()),
        ],
        expect: Expect::Deliverable,
    }
}

fn applied(at_ms: i64, marker: &str, tier: &str) -> Received {
    Received {
        at_ms,
        visitor: VISITOR.to_owned(),
        params: vec![
            ("m".to_owned(), marker.to_owned()),
            ("tier".to_owned(), tier.to_owned()),
        ],
        stray: Vec::new(),
        status: Some(200),
        applied: true,
    }
}

/// Rows 1 (`r1`, silver) and 2 (`r2`, gold), both delivered, and what Target received.
fn outcome(received: Vec<Received>) -> Outcome {
    let rows: BTreeMap<i64, RowSpec> = [(1, row("r1", "silver")), (2, row("r2", "gold"))].into();
    Outcome {
        received,
        states: rows
            .keys()
            .map(|id| (*id, ("delivered".to_owned(), None)))
            .collect(),
        rows,
        purged: HashMap::new(),
        stats: Stats::default(),
        unsettled: None,
        liveness_rounds: 0,
    }
}

fn broken(outcome: &Outcome, limit: u32) -> Vec<Invariant> {
    let mut found: Vec<Invariant> = check(outcome, limit)
        .into_iter()
        .map(|v| v.invariant)
        .collect();
    found.dedup();
    found
}

#[test]
fn a_history_in_order_within_the_quota_breaks_nothing() {
    let history = outcome(vec![applied(0, "r1", "silver"), applied(1, "r2", "gold")]);
    assert_eq!(broken(&history, 2), vec![]);
}

#[test]
fn an_older_value_applied_after_a_newer_one_is_caught() {
    let history = outcome(vec![applied(0, "r2", "gold"), applied(1, "r1", "silver")]);
    assert_eq!(broken(&history, 10), vec![Invariant::OlderAfterNewer]);
}

#[test]
fn an_older_value_after_a_cancelled_newer_one_is_what_the_cancel_asked_for() {
    let mut history = outcome(vec![applied(0, "r2", "gold"), applied(1, "r1", "silver")]);
    history.states.insert(2, ("cancelled".to_owned(), None));
    assert_eq!(broken(&history, 10), vec![]);
    history
        .states
        .insert(2, ("failed".to_owned(), Some("refused".to_owned())));
    assert!(
        broken(&history, 10).contains(&Invariant::OlderAfterNewer),
        "a failed newer row still counts"
    );
}

#[test]
fn more_calls_than_the_limit_in_any_24_hours_are_caught() {
    let spread = outcome(vec![applied(0, "r1", "silver"), applied(DAY, "r2", "gold")]);
    assert_eq!(broken(&spread, 1), vec![]);
    let close = outcome(vec![
        applied(0, "r1", "silver"),
        applied(DAY - 1, "r2", "gold"),
    ]);
    assert_eq!(broken(&close, 1), vec![Invariant::QuotaWindow]);
}

#[test]
fn a_value_changed_on_the_way_is_caught() {
    let history = outcome(vec![applied(0, "r1", "silver"), applied(1, "r2", "gold ")]);
    assert_eq!(broken(&history, 10), vec![Invariant::ExactValues]);
}

#[test]
fn a_row_delivered_without_its_value_reaching_target_is_caught() {
    let mut history = outcome(vec![applied(0, "r1", "silver")]);
    assert_eq!(broken(&history, 10), vec![Invariant::RowAccounting]);
    history.received[0].applied = false;
    history.received.push(applied(1, "r2", "gold"));
    // Row 2's newer values cover row 1 (coalescing), so only an unapplied request is left: fine.
    assert_eq!(broken(&history, 10), vec![]);
}

#[test]
fn a_lost_row_and_a_failure_without_a_reason_are_caught() {
    let mut history = outcome(vec![applied(0, "r1", "silver"), applied(1, "r2", "gold")]);
    history.states.remove(&1);
    assert_eq!(broken(&history, 10), vec![Invariant::RowAccounting]);
    history.purged.insert(1, "delivered".to_owned());
    assert_eq!(broken(&history, 10), vec![]);
    history.states.insert(2, ("failed".to_owned(), None));
    assert_eq!(broken(&history, 10), vec![Invariant::RowAccounting]);
}

#[test]
fn rows_not_at_rest_and_a_busy_loop_are_caught() {
    let mut history = outcome(vec![applied(0, "r1", "silver"), applied(1, "r2", "gold")]);
    history.unsettled = Some("1 row not at rest".to_owned());
    history.stats.idle_claims.insert(7, BUSY_LIMIT);
    assert_eq!(broken(&history, 10), vec![Invariant::Liveness]);
    history.stats.idle_claims.insert(8, BUSY_LIMIT + 1);
    assert_eq!(
        broken(&history, 10),
        vec![Invariant::Liveness, Invariant::BusyLoop]
    );
}

#[test]
fn a_minimised_history_reads_back_from_its_replay_text() {
    let keep = Keep(vec![(0, None), (3, Some(vec![0, 2])), (7, None)]);
    assert_eq!(keep.render(), "0,3:0.2,7");
    assert_eq!(Keep::parse(&keep.render()), Some(keep));
    assert_eq!(Keep::parse("1,x"), None);
}
