//! Producers write with plain SQL, and SQLite keeps whatever storage class they pass. A BLOB (or
//! any value that is not text) in a producer column is refused at INSERT naming the column, and a
//! row that got in before that rule is set aside as its own failure: it never stops the others,
//! is never sent, and spends no quota. Judged from what the fake Target received.

use crate::admin_helpers::{output, run};
use crate::helpers::TestApp;
use std::collections::BTreeSet;
use std::process::Command;

/// Rows written before migration 0005 could hold anything: drop its insert trigger to write them.
async fn allow_rows_from_before_the_text_rule(app: &TestApp) {
    sqlx::query("DROP TRIGGER outbox_refuses_non_text_on_insert")
        .execute(&app.pool)
        .await
        .expect("trigger dropped");
}

/// Inserts a row given as SQL expressions, returning its id.
async fn insert_sql(app: &TestApp, pc: &str, third: &str, attributes: &str, source: &str) -> i64 {
    let sql = format!(
        "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes, source) \
         VALUES ({pc}, {third}, {attributes}, {source}) RETURNING id"
    );
    sqlx::query_scalar(&sql)
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The visitor ids Target received, as `mboxPC=…` or `mbox3rdPartyId=…`.
fn visitors_received(app: &TestApp) -> BTreeSet<String> {
    app.target
        .received()
        .iter()
        .flat_map(|r| r.params().into_iter().take(1))
        .map(|(name, value)| format!("{name}={value}"))
        .collect()
}

const GOOD: &str = r#"'{"tier":"gold"}'"#;

#[tokio::test]
async fn a_row_stored_as_a_blob_before_the_text_rule_is_set_aside_and_every_other_row_goes_out() {
    let app = TestApp::spawn("").await;
    allow_rows_from_before_the_text_rule(&app).await;
    let first = insert_sql(&app, "'100-1.01_00'", "NULL", GOOD, "NULL").await;
    // Bad rows, one producer mistake each. 300-1.01_00 as a BLOB comes before the same id as TEXT.
    let bad = [
        (
            insert_sql(&app, "CAST('300-1.01_00' AS BLOB)", "NULL", GOOD, "NULL").await,
            "mbox_pc: is stored as BLOB",
        ),
        (
            insert_sql(&app, "x'ff00fe'", "NULL", GOOD, "NULL").await,
            "mbox_pc: is stored as BLOB",
        ),
        (
            insert_sql(&app, "NULL", "x'43524d2d31'", GOOD, "NULL").await,
            "mbox_3rd_party_id: is stored as BLOB",
        ),
        (
            insert_sql(
                &app,
                "'400-1.01_00'",
                "NULL",
                r#"CAST('{"tier":"gold"}' AS BLOB)"#,
                "NULL",
            )
            .await,
            "attributes: is stored as BLOB",
        ),
        (
            insert_sql(&app, "CAST(x'3530302dff' AS TEXT)", "NULL", GOOD, "NULL").await,
            "mbox_pc: is TEXT that is not valid UTF-8",
        ),
        (
            insert_sql(&app, "NULL", "CAST(x'43524dff' AS TEXT)", GOOD, "NULL").await,
            "mbox_3rd_party_id: is TEXT that is not valid UTF-8",
        ),
        (
            insert_sql(
                &app,
                "'600-1.01_00'",
                "NULL",
                r#"CAST(x'7b2261223a22ff227d' AS TEXT)"#,
                "NULL",
            )
            .await,
            "attributes: is TEXT that is not valid UTF-8",
        ),
    ];
    let same_visitor_after_blob = insert_sql(&app, "'300-1.01_00'", "NULL", GOOD, "NULL").await;
    let blob_source = insert_sql(&app, "'700-1.01_00'", "NULL", GOOD, "x'00ff'").await;
    let last = insert_sql(&app, "NULL", "'CRM-2'", GOOD, "'app'").await;

    let reports = app.drain().await;
    let failed: usize = reports.iter().map(|r| r.failed).sum();
    let delivered: usize = reports.iter().map(|r| r.delivered).sum();
    assert_eq!(
        (failed, delivered),
        (bad.len(), 4),
        "the rounds count the rows their claims set aside: {reports:?}"
    );

    for (id, reason) in bad {
        let row = app.row(id).await;
        assert_eq!(
            (row.state.as_str(), row.sends),
            ("failed", 0),
            "row {id}: {row:?}"
        );
        let error = row.last_error.unwrap_or_default();
        assert!(error.starts_with(reason), "row {id}: {error}");
    }
    for id in [first, same_visitor_after_blob, blob_source, last] {
        assert_eq!(app.row(id).await.state, "delivered", "row {id}");
    }
    let expected: BTreeSet<String> = [
        "mboxPC=100-1.01_00",
        "mboxPC=300-1.01_00",
        "mboxPC=700-1.01_00",
        "mbox3rdPartyId=CRM-2",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(visitors_received(&app), expected);
    let received = i64::try_from(app.target.received().len()).unwrap_or(i64::MAX);
    assert_eq!((received, app.calls_booked().await), (4, 4));
}

/// What happens to one value in one column.
#[derive(Debug)]
enum Expect {
    /// Stored as text (or NULL): the row is deliverable.
    Stored,
    /// Refused at INSERT with a message holding this text.
    Refused(&'static str),
}

#[tokio::test]
async fn every_storage_class_in_every_producer_column_is_stored_as_text_or_refused_naming_the_column()
 {
    use Expect::{Refused, Stored};
    let app = TestApp::spawn("").await;
    let text_rule = |column| match column {
        "mbox_pc" => "outbox: mbox_pc must be TEXT or NULL, not a BLOB",
        "mbox_3rd_party_id" => "outbox: mbox_3rd_party_id must be TEXT or NULL, not a BLOB",
        "attributes" => "outbox: attributes must be TEXT holding a JSON object, not a BLOB",
        _ => "outbox: source must be TEXT or NULL, not a BLOB",
    };
    let cases: Vec<(&str, &str, Expect)> = vec![
        ("mbox_pc", "'12-1.01_00'", Stored),
        ("mbox_pc", "12345", Stored),
        ("mbox_pc", "1.5", Stored),
        (
            "mbox_pc",
            "CAST('13-1.01_00' AS BLOB)",
            Refused(text_rule("mbox_pc")),
        ),
        (
            "mbox_pc",
            "NULL",
            Refused("set one of mbox_pc or mbox_3rd_party_id"),
        ),
        ("mbox_3rd_party_id", "'CRM-7'", Stored),
        ("mbox_3rd_party_id", "4242", Stored),
        ("mbox_3rd_party_id", "2.25", Stored),
        (
            "mbox_3rd_party_id",
            "x'43524d2d38'",
            Refused(text_rule("mbox_3rd_party_id")),
        ),
        (
            "mbox_3rd_party_id",
            "NULL",
            Refused("set one of mbox_pc or mbox_3rd_party_id"),
        ),
        ("attributes", r#"'{"a":"1"}'"#, Stored),
        (
            "attributes",
            "5",
            Refused("attributes must be a JSON object"),
        ),
        (
            "attributes",
            "2.5",
            Refused("attributes must be a JSON object"),
        ),
        (
            "attributes",
            r#"CAST('{"a":"1"}' AS BLOB)"#,
            Refused(text_rule("attributes")),
        ),
        ("attributes", "NULL", Refused("outbox.attributes")),
        ("source", "'app'", Stored),
        ("source", "7", Stored),
        ("source", "7.5", Stored),
        ("source", "x'617070'", Refused(text_rule("source"))),
        ("source", "NULL", Stored),
    ];
    let mut stored = Vec::new();
    for (n, (column, value, expect)) in cases.iter().enumerate() {
        // A visitor of its own per case, named in the column not under test.
        let pc = format!("'{n}-9.01_00'");
        let (pc, third, attributes, source) = match *column {
            "mbox_pc" => (
                value.to_string(),
                "NULL".to_owned(),
                GOOD.to_owned(),
                "NULL".to_owned(),
            ),
            "mbox_3rd_party_id" => (
                "NULL".to_owned(),
                value.to_string(),
                GOOD.to_owned(),
                "NULL".to_owned(),
            ),
            "attributes" => (pc, "NULL".to_owned(), value.to_string(), "NULL".to_owned()),
            _ => (pc, "NULL".to_owned(), GOOD.to_owned(), value.to_string()),
        };
        let sql = format!(
            "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes, source) \
             VALUES ({pc}, {third}, {attributes}, {source}) RETURNING id, typeof({column})"
        );
        let inserted: Result<(i64, String), _> = sqlx::query_as(&sql).fetch_one(&app.pool).await;
        match (expect, inserted) {
            (Stored, Ok((id, storage))) => {
                assert!(
                    matches!(storage.as_str(), "text" | "null"),
                    "{column} = {value}: stored as {storage}"
                );
                stored.push(id);
            }
            (Refused(message), Err(e)) => {
                let e = e.to_string();
                assert!(
                    e.contains(message) && e.contains(column),
                    "{column} = {value}: {e}"
                );
            }
            (expect, got) => panic!("{column} = {value}: expected {expect:?}, got {got:?}"),
        }
    }

    app.drain().await;

    for id in &stored {
        assert_eq!(app.row(*id).await.state, "delivered", "row {id}");
    }
    assert_eq!(app.target.received().len(), stored.len());
}

#[tokio::test]
async fn changing_a_producer_column_to_a_blob_is_refused_naming_the_column() {
    let app = TestApp::spawn("").await;
    let id = insert_sql(&app, "'1-1.01_00'", "NULL", GOOD, "NULL").await;
    for column in ["mbox_pc", "mbox_3rd_party_id", "attributes", "source"] {
        let changed = sqlx::query(&format!("UPDATE outbox SET {column} = x'31' WHERE id = ?"))
            .bind(id)
            .execute(&app.pool)
            .await;
        let error = changed.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error.contains(&format!("outbox: {column} must be TEXT")),
            "{column}: {error}"
        );
    }
}

#[tokio::test]
async fn a_python_producer_passing_bytes_is_refused_with_the_column_named() {
    let app = TestApp::spawn("").await;
    let script = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=60.0)
with db:
    db.execute(
        "INSERT INTO outbox (mbox_pc, attributes, source) VALUES (?, ?, ?)",
        (b"1368007744041-575948.01_00", json.dumps({"loyalty_tier": "gold"}), "loyalty-app"),
    )
"#;
    let mut python = Command::new("python3");
    python.arg("-c").arg(script).arg(app.database());
    let done = output(python);
    assert_ne!(done.code, Some(0), "{done:?}");
    assert!(
        done.stderr
            .contains("outbox: mbox_pc must be TEXT or NULL, not a BLOB"),
        "{done:?}"
    );
    assert_eq!(app.count("pending").await, 0);
}

#[tokio::test]
async fn list_show_and_status_read_rows_stored_before_the_text_rule() {
    let app = TestApp::spawn("").await;
    allow_rows_from_before_the_text_rule(&app).await;
    let blob = insert_sql(&app, "x'ff00fe'", "NULL", GOOD, "x'617070'").await;
    let not_utf8 = insert_sql(
        &app,
        "NULL",
        "CAST(x'43524dff' AS TEXT)",
        r#"CAST('{"a":"1"}' AS BLOB)"#,
        "NULL",
    )
    .await;

    let listed = run(&app, &["list", "--json"]);
    assert_eq!(listed.code, Some(0), "{listed:?}");
    let rows = listed.json()["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 2, "{listed:?}");
    assert_eq!(rows[1]["mbox_pc"], "x'FF00FE'");
    assert_eq!(rows[1]["source"], "x'617070'");
    assert_eq!(rows[0]["mbox_3rd_party_id"], "CRM\u{fffd}");
    let problems = [
        (blob, "mbox_pc: is stored as BLOB (3 bytes)"),
        (
            not_utf8,
            "mbox_3rd_party_id: is TEXT that is not valid UTF-8",
        ),
    ];
    for (id, problem) in problems {
        let shown = run(&app, &["show", &id.to_string()]);
        assert_eq!(shown.code, Some(0), "{shown:?}");
        let doc = run(&app, &["show", &id.to_string(), "--json"]).json();
        let said = doc["problem"].as_str().unwrap_or_default().to_owned();
        assert!(said.starts_with(problem), "row {id}: {said}");
    }
    let status = run(&app, &["status"]);
    assert!(matches!(status.code, Some(0 | 3)), "{status:?}");
    assert!(run(&app, &["list"]).code == Some(0));
}

#[tokio::test]
async fn retry_and_cancel_take_a_row_stored_before_the_text_rule() {
    let app = TestApp::spawn("").await;
    allow_rows_from_before_the_text_rule(&app).await;
    let blob = insert_sql(&app, "x'ff00fe'", "NULL", GOOD, "NULL").await;
    app.drain().await;
    assert_eq!(app.row(blob).await.state, "failed");

    // The row's own data is the cause: retry refuses it, naming the column, unless forced.
    let refused = run(&app, &["retry", &blob.to_string()]);
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("mbox_pc"), "{refused:?}");
    assert_eq!(app.row(blob).await.state, "failed");
    let retried = run(&app, &["retry", &blob.to_string(), "--even-if-invalid"]);
    assert_eq!(retried.code, Some(0), "{retried:?}");
    assert_eq!(app.row(blob).await.state, "pending");
    app.drain().await;
    let again = app.row(blob).await;
    assert_eq!((again.state.as_str(), again.sends), ("failed", 0));

    let cancelled = run(&app, &["cancel", "--all", "--yes"]);
    assert_eq!(cancelled.code, Some(0), "{cancelled:?}");
    assert_eq!(app.row(blob).await.state, "cancelled");
    assert_eq!(app.target.received().len(), 0);
}
