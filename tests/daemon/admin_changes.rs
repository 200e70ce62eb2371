//! `profile-outbox retry`, `cancel` and `purge`: what each changes, `--yes` before more than one
//! row, previews (`--dry-run`, `--json` without `--yes`), usage errors exiting 2, and rows in
//! flight never touched and always reported. (A visitor's order: `admin_order`.)

use crate::admin_helpers::{age_row, run, set_state};
use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;

/// A row Target refused until it failed (`retry.max_attempts = 1`).
async fn refused_row(app: &TestApp, pc: &str) -> i64 {
    app.target
        .answer_by_default(Reply::status(400, "invalid value"));
    let id = app.enqueue_pc(pc, json!({"tier": "gold"})).await;
    app.run_once().await;
    assert_eq!(app.row(id).await.state, "failed");
    app.target.answer_by_default(Reply::ok());
    id
}

const ONE_TRY: &str = "[retry]\nmax_attempts = 1\n";

#[tokio::test]
async fn retry_makes_a_failed_row_pending_and_due_now_and_the_daemon_sends_it() {
    let app = TestApp::spawn(ONE_TRY).await;
    let id = refused_row(&app, PC).await;

    let done = run(&app, &["retry", &id.to_string()]);

    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout.trim(), format!("retried 1 row: {id}"));
    let row = app.row(id).await;
    assert_eq!(
        (row.state.as_str(), row.attempts, row.next_attempt_at),
        ("pending", 0, 0)
    );
    assert!(
        row.last_error
            .is_some_and(|e| e.starts_with("retried by an operator; before: Target refused")),
    );
    app.run_once().await;
    assert_eq!(app.row(id).await.state, "delivered");
}

#[tokio::test]
async fn retry_of_more_than_one_row_changes_nothing_without_yes() {
    let app = TestApp::spawn(ONE_TRY).await;
    let a = refused_row(&app, "1-1.01_00").await;
    let b = refused_row(&app, "2-2.01_00").await;

    let refused = run(&app, &["retry", "--all"]);

    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("nothing changed: 2 rows match")
            && refused.stderr.contains("--yes"),
        "{refused:?}"
    );
    assert_eq!(app.count("failed").await, 2);

    let done = run(&app, &["retry", "--all", "--yes", "--json"]);
    assert_eq!(done.code, Some(0), "{done:?}");
    let doc = done.json();
    assert_eq!(doc["action"], json!("retry"));
    assert_eq!(doc["changed"], json!([a, b]));
    assert_eq!(app.count("pending").await, 2);
}

#[tokio::test]
async fn rows_in_flight_are_never_retried_cancelled_or_purged() {
    let app = TestApp::spawn("").await;
    let flying = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    let waiting = app.enqueue_pc("1-1.01_00", json!({"tier": "gold"})).await;
    set_state(&app, flying, "in_flight").await;
    age_row(&app, flying, 30).await;

    let retry = run(&app, &["retry", &flying.to_string()]);
    let cancel = run(&app, &["cancel", &flying.to_string()]);
    let cancel_all = run(&app, &["cancel", "--all", "--yes"]);
    let purge = run(&app, &["purge", "--older-than", "1d", "--yes"]);

    for done in [&retry, &cancel] {
        assert_eq!(done.code, Some(1), "{done:?}");
        assert!(
            done.stdout.contains("in flight (being sent now)"),
            "{done:?}"
        );
        assert!(
            !done.stdout.contains("matching row"),
            "a row named by id is reported once, as refused: {done:?}"
        );
    }
    assert_eq!(
        cancel_all.stdout.lines().collect::<Vec<_>>(),
        [
            format!("cancelled 1 row: {waiting}"),
            format!(
                "left 1 matching row in flight (being sent now; no command changes it): {flying}"
            )
        ]
    );
    assert!(purge.stdout.starts_with("deleted 0 rows"), "{purge:?}");
    assert_eq!(app.row(flying).await.state, "in_flight");
}

#[tokio::test]
async fn cancel_takes_pending_and_failed_rows_and_they_are_never_sent() {
    let app = TestApp::spawn(ONE_TRY).await;
    let failed = refused_row(&app, "1-1.01_00").await;
    let pending = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    let sent_before = app.target.received().len();

    let one = run(&app, &["cancel", &pending.to_string()]);
    let by_state = run(&app, &["cancel", "--state", "failed"]);
    let wrong = run(&app, &["cancel", "--state", "delivered"]);
    app.run_once().await;

    assert_eq!(
        one.stdout.trim(),
        format!("cancelled 1 row: {pending}"),
        "{one:?}"
    );
    assert_eq!(
        by_state.stdout.trim(),
        format!("cancelled 1 row: {failed}"),
        "{by_state:?}"
    );
    assert_eq!(
        wrong.code,
        Some(2),
        "a state cancel does not take is a usage error"
    );
    assert!(wrong.stderr.contains("pending or failed"), "{wrong:?}");
    assert_eq!(app.count("cancelled").await, 2);
    assert_eq!(
        app.target.received().len(),
        sent_before,
        "nothing more was sent"
    );
}

#[tokio::test]
async fn purge_deletes_only_old_delivered_and_cancelled_rows_and_asks_first() {
    let app = TestApp::spawn("").await;
    let old_delivered = app.enqueue_pc("1-1.01_00", json!({"tier": "gold"})).await;
    let new_delivered = app.enqueue_pc("2-2.01_00", json!({"tier": "gold"})).await;
    app.run_once().await;
    let old_cancelled = app.enqueue_pc("3-3.01_00", json!({"tier": "gold"})).await;
    set_state(&app, old_cancelled, "cancelled").await;
    let old_failed = app.enqueue_pc("4-4.01_00", json!({"tier": "gold"})).await;
    set_state(&app, old_failed, "failed").await;
    let old_pending = app.enqueue_pc("5-5.01_00", json!({"tier": "gold"})).await;
    for id in [old_delivered, old_cancelled, old_failed, old_pending] {
        age_row(&app, id, 10).await;
    }

    let asked = run(&app, &["purge", "--older-than", "7d"]);
    assert_eq!(asked.code, Some(2), "{asked:?}");
    assert!(
        asked
            .stderr
            .contains("nothing deleted: 2 delivered or cancelled rows"),
        "{asked:?}"
    );
    assert_eq!(app.count("delivered").await, 2);

    let done = run(&app, &["purge", "--older-than", "7d", "--yes", "--json"]);
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.json()["deleted"], json!(2));
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("ids");
    assert_eq!(left, [new_delivered, old_failed, old_pending]);
}

#[tokio::test]
async fn usage_errors_exit_2_and_change_nothing() {
    let app = TestApp::spawn(ONE_TRY).await;
    let failed = refused_row(&app, PC).await;

    let cases: [&[&str]; 5] = [
        &["retry"],
        &["cancel"],
        &["cancel", "--state", "delivered"],
        &["purge", "--older-than", "1d", "--state", "failed"],
        &["retry", "--older-than", "soon"],
    ];
    for args in cases {
        let done = run(&app, args);
        assert_eq!(done.code, Some(2), "{args:?}: {done:?}");
        assert!(done.stderr.contains("error"), "{args:?}: {done:?}");
        assert!(done.stdout.is_empty(), "{args:?}: {done:?}");
    }
    assert_eq!(app.row(failed).await.state, "failed");
}

#[tokio::test]
async fn json_without_yes_previews_what_would_change_and_dry_run_changes_nothing() {
    let app = TestApp::spawn(ONE_TRY).await;
    let a = refused_row(&app, "1-1.01_00").await;
    let b = refused_row(&app, "2-2.01_00").await;

    let preview = run(&app, &["retry", "--all", "--json"]);
    let dry = run(&app, &["retry", "--all", "--yes", "--dry-run"]);
    let dry_cancel = run(&app, &["cancel", "--all", "--dry-run", "--json"]);

    assert_eq!(preview.code, Some(2), "{preview:?}");
    let doc = preview.json();
    assert_eq!(doc["done"], json!(false));
    assert_eq!(doc["would_change"], json!([a, b]));
    assert_eq!(doc["changed"], json!([]));
    assert_eq!(doc["needs"][0]["flag"], json!("--yes"));
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert_eq!(
        dry.stdout.lines().next(),
        Some(format!("dry run: retry would change 2 rows: {a}, {b}").as_str()),
        "{dry:?}"
    );
    assert_eq!(dry_cancel.code, Some(0), "{dry_cancel:?}");
    let doc = dry_cancel.json();
    assert_eq!(doc["dry_run"], json!(true));
    assert_eq!(doc["would_change"], json!([a, b]));
    assert_eq!(app.count("failed").await, 2, "nothing changed");
}

#[tokio::test]
async fn purge_previews_with_json_and_dry_run_and_deletes_nothing() {
    let app = TestApp::spawn("").await;
    for pc in ["1-1.01_00", "2-2.01_00"] {
        let id = app.enqueue_pc(pc, json!({"tier": "gold"})).await;
        app.run_once().await;
        age_row(&app, id, 10).await;
    }

    let preview = run(&app, &["purge", "--older-than", "7d", "--json"]);
    let dry = run(&app, &["purge", "--older-than", "7d", "--yes", "--dry-run"]);

    assert_eq!(preview.code, Some(2), "{preview:?}");
    let doc = preview.json();
    assert_eq!(
        (&doc["would_delete"], &doc["deleted"], &doc["done"]),
        (&json!(2), &json!(0), &json!(false))
    );
    assert_eq!(doc["needs"][0]["flag"], json!("--yes"));
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert!(
        dry.stdout.starts_with("dry run: purge would delete 2 rows"),
        "{dry:?}"
    );
    assert_eq!(app.count("delivered").await, 2, "nothing deleted");
}

#[tokio::test]
async fn cancel_says_how_many_matching_rows_it_left_in_flight() {
    let app = TestApp::spawn("").await;
    let source = |pc: &str| profile_outbox::outbox::NewRow {
        mbox_pc: Some(pc.to_owned()),
        attributes: json!({"tier": "gold"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        source: Some("till".into()),
        ..Default::default()
    };
    let waiting = app.enqueue(source("1-1.01_00")).await;
    let flying = app.enqueue(source("2-2.01_00")).await;
    let other = app.enqueue_pc("3-3.01_00", json!({"tier": "gold"})).await;
    set_state(&app, flying, "in_flight").await;
    set_state(&app, other, "in_flight").await;

    let text = run(&app, &["cancel", "--source", "till", "--yes"]);
    set_state(&app, waiting, "pending").await;
    let doc = run(&app, &["cancel", "--source", "till", "--yes", "--json"]);

    assert_eq!(
        text.code,
        Some(1),
        "not every matching row was cancelled: {text:?}"
    );
    assert!(
        text.stdout.contains(&format!("cancelled 1 row: {waiting}"))
            && text.stdout.contains(&format!(
                "left 1 matching row in flight (being sent now; no command changes it): {flying}"
            )),
        "{text:?}"
    );
    assert_eq!(doc.code, Some(1), "{doc:?}");
    assert_eq!(doc.json()["left_in_flight"], json!([flying]));
}
