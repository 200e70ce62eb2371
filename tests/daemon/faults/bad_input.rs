//! Hostile input: a generator of rows that each break at least one rule (invalid JSON, wrong
//! types, huge values, control characters, invalid ids, both ids, empty attributes, SQL and URL
//! metacharacters). Each is refused at INSERT with a clear message or ends failed with a reason on
//! its first look, with no panic, no quota spent, and no delay to the healthy rows among them.

use super::scale::scale;
use crate::helpers::TestApp;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// One producer's row: the two id columns and the attributes text.
type RawRow = (Option<String>, Option<String>, Option<String>);

fn metacharacters() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just("'; DROP TABLE outbox; --".to_owned()),
        Just("&mboxPC=evil#x".to_owned()),
        Just("%00%zz+/?".to_owned()),
        Just("\u{0}\u{7}\r\n".to_owned()),
        "\\PC{0,40}",
    ]
}

/// Attributes text that breaks a rule.
fn bad_attributes() -> impl Strategy<Value = Option<String>> {
    let text = metacharacters();
    prop_oneof![
        Just(None),
        text.clone().prop_map(Some),
        Just(Some("[1,2,3]".to_owned())),
        Just(Some("42".to_owned())),
        Just(Some("{}".to_owned())),
        text.clone()
            .prop_map(|t| Some(serde_json::json!({ "a": null, "t": t }).to_string())),
        text.clone()
            .prop_map(|t| Some(serde_json::json!({ "a": [t] }).to_string())),
        text.clone()
            .prop_map(|t| Some(serde_json::json!({ "a": { "b": t } }).to_string())),
        (257usize..3000)
            .prop_map(|n| Some(serde_json::json!({ "note": "x".repeat(n) }).to_string())),
        (129usize..400).prop_map(|n| Some(serde_json::json!({ "n".repeat(n): "v" }).to_string())),
        text.clone()
            .prop_map(|t| Some(serde_json::json!({ format!("ctl\u{1}{t}"): "v" }).to_string())),
        text.clone()
            .prop_map(|t| Some(serde_json::json!({ format!("profile.{t}"): "v" }).to_string())),
        Just(Some(serde_json::json!({ "": "v" }).to_string())),
        Just(Some(
            serde_json::Value::Object(
                (0..300)
                    .map(|i| (format!("a{i}"), serde_json::json!("v".repeat(250))))
                    .collect()
            )
            .to_string()
        )),
    ]
}

/// Id columns that break a rule.
fn bad_ids() -> impl Strategy<Value = (Option<String>, Option<String>)> {
    let text = metacharacters();
    prop_oneof![
        Just((None, None)),
        (text.clone(), text.clone()).prop_map(|(a, b)| (Some(format!("1-1.01_00{a}")), Some(b))),
        text.clone().prop_map(|t| (Some(format!("1 2{t}")), None)),
        Just((Some(String::new()), None)),
        Just((
            Some("12345678901234567890123456789012345678".to_owned()),
            None
        )),
        Just((
            None,
            Some("12345678901234567890123456789012345678".to_owned())
        )),
        text.clone().prop_map(|t| (None, Some(format!("card+{t}")))),
        text.clone().prop_map(|t| (None, Some(format!("a/{t}")))),
        (257usize..1000).prop_map(|n| (None, Some("c".repeat(n)))),
        Just((None, Some("   ".to_owned()))),
        text.prop_map(|t| (Some(format!("{}{t}", "9".repeat(129))), None)),
    ]
}

/// A row with at least one broken rule: bad attributes with a good id, or a bad id with good
/// attributes, or both bad.
fn hostile_row() -> impl Strategy<Value = RawRow> {
    let good_attributes =
        metacharacters().prop_map(|t| Some(serde_json::json!({ "note": t }).to_string()));
    prop_oneof![
        (1u32..1_000_000, bad_attributes()).prop_map(|(k, a)| (
            Some(format!("{k}-1.01_00")),
            None,
            a
        )),
        (bad_ids(), good_attributes).prop_map(|((pc, third), a)| (pc, third, a)),
        (bad_ids(), bad_attributes()).prop_map(|((pc, third), a)| (pc, third, a)),
    ]
}

fn is_clear_refusal(message: &str) -> bool {
    message.contains("outbox: ")
        || message.contains("NOT NULL constraint failed: outbox.attributes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_rows_are_refused_or_set_aside_with_a_reason_and_cost_healthy_rows_nothing() {
    let total = scale().hostile_rows;
    let app = TestApp::spawn("").await;
    let mut runner = TestRunner::deterministic();
    let strategy = hostile_row();
    let (mut refused, mut accepted, mut healthy) = (0usize, Vec::new(), Vec::new());
    let mut tx = app.pool.begin().await.expect("transaction");
    for n in 0..total {
        let (pc, third, attributes) = strategy.new_tree(&mut runner).expect("a value").current();
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(&pc)
        .bind(&third)
        .bind(&attributes)
        .fetch_one(&mut *tx)
        .await;
        match inserted {
            Ok(id) => accepted.push(id),
            Err(e) => {
                assert!(
                    is_clear_refusal(&e.to_string()),
                    "unclear refusal for {pc:?}/{third:?}/{attributes:?}: {e}"
                );
                refused += 1;
            }
        }
        if n % 10 == 0 {
            let id = sqlx::query_scalar::<_, i64>(
                "INSERT INTO outbox (mbox_3rd_party_id, attributes) VALUES (?, ?) RETURNING id",
            )
            .bind(format!("healthy-{n}"))
            .bind(serde_json::json!({ "seq": 1, "note": "fine & well = 100%" }).to_string())
            .fetch_one(&mut *tx)
            .await
            .expect("healthy row inserts");
            healthy.push(id);
        }
    }
    tx.commit().await.expect("commit");

    let reports = app.drain().await;

    let requests: u32 = reports.iter().map(|r| r.requests).sum();
    assert_eq!(
        requests as usize,
        healthy.len(),
        "only healthy rows were sent"
    );
    assert_eq!(app.target.received().len(), healthy.len());
    let spent: i64 = sqlx::query_scalar("SELECT coalesce(sum(calls), 0) FROM quota_ledger")
        .fetch_one(&app.pool)
        .await
        .expect("ledger");
    assert_eq!(
        spent as usize,
        healthy.len(),
        "no quota spent on hostile rows"
    );
    assert_eq!(
        app.count("delivered").await as usize,
        healthy.len(),
        "every healthy row delivered in one drain"
    );
    let set_aside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE state = 'failed' AND attempts = 0 AND sends = 0
           AND length(last_error) > 10 AND instr(last_error, ': ') > 0",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(
        set_aside as usize,
        accepted.len(),
        "each accepted hostile row failed with a reason, unsent"
    );
    println!(
        "fault case hostile input: rows={total} refused_at_insert={refused} failed_with_reason={} healthy_delivered={} \
         requests={requests} quota_spent_on_hostile=0 panics=0",
        accepted.len(),
        healthy.len()
    );
}
