//! `profile-outbox status`: what it reports in each interesting state, and its exit code, which a
//! monitoring check reads (0 all is well, 3 needs attention, 1 could not check).

use crate::admin_helpers::{run, set_state};
use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn status_with_no_daemon_running_needs_a_person_even_on_an_empty_outbox() {
    let app = TestApp::spawn("").await;

    let text = run(&app, &["status"]);
    let doc = run(&app, &["status", "--json"]).json();

    assert_eq!(
        text.code,
        Some(3),
        "monitoring must see a dead daemon: {text:?}"
    );
    assert!(!text.stdout.contains("all is well"), "{}", text.stdout);
    assert!(
        text.stdout.contains("daemon          not running")
            && text.stdout.contains("needs attention:")
            && text
                .stdout
                .contains("no daemon is running on this database"),
        "{}",
        text.stdout
    );
    assert_eq!(doc["healthy"], json!(false));
    assert_eq!(doc["daemon"]["running"], json!(false));
    assert_eq!(doc["rows"]["pending"], json!(0));
}

#[tokio::test]
async fn status_exits_non_zero_when_rows_wait_and_no_daemon_runs() {
    let app = TestApp::spawn("").await;
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    let text = run(&app, &["status"]);
    let doc = run(&app, &["status", "--json"]);

    assert_eq!(text.code, Some(3), "{text:?}");
    assert!(
        text.stdout.contains("needs attention:") && text.stdout.contains("no daemon is running"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("row {id}, added")),
        "{}",
        text.stdout
    );
    assert_eq!(doc.code, Some(3));
    let doc = doc.json();
    assert_eq!(doc["healthy"], json!(false));
    assert_eq!(doc["oldest_pending"]["id"], json!(id));
    assert_eq!(doc["due_now"], json!(1));
}

#[tokio::test]
async fn status_exits_non_zero_when_failed_rows_are_waiting() {
    let app = TestApp::spawn("").await;
    let id = app
        .enqueue_pc(PC, json!({"loyalty_note": "x".repeat(412)}))
        .await;
    app.run_once().await;
    assert_eq!(app.row(id).await.state, "failed");

    let text = run(&app, &["status"]);
    let doc = run(&app, &["status", "--json"]).json();

    assert_eq!(text.code, Some(3), "{text:?}");
    assert!(
        text.stdout.contains(&format!(
            "1 failed row waits for an operator (newest: {id})"
        )),
        "{}",
        text.stdout
    );
    assert_eq!(doc["rows"]["failed"], json!(1));
    let error = doc["last_error"]["message"].as_str().unwrap_or_default();
    assert!(error.contains("loyalty_note"), "{doc}");
}

#[tokio::test]
async fn status_counts_each_state_and_shows_the_next_retry_and_the_quota() {
    let app = TestApp::spawn("[retry]\ninitial_delay = \"10m\"\nmax_delay = \"1h\"\n").await;
    let delivered = app.enqueue_pc("1-1.01_00", json!({"tier": "gold"})).await;
    app.run_once().await;
    app.target
        .answer_by_default(Reply::status(400, "bad value"));
    let retrying = app.enqueue_pc("2-2.01_00", json!({"tier": "gold"})).await;
    app.run_once().await;
    let cancelled = app.enqueue_pc("3-3.01_00", json!({"tier": "gold"})).await;
    set_state(&app, cancelled, "cancelled").await;
    let in_flight = app.enqueue_pc("4-4.01_00", json!({"tier": "gold"})).await;
    set_state(&app, in_flight, "in_flight").await;
    assert_eq!(app.row(delivered).await.state, "delivered");
    assert_eq!(app.row(retrying).await.state, "pending");

    let doc = run(&app, &["status", "--json"]).json();

    assert_eq!(
        doc["rows"],
        json!({"pending": 1, "in_flight": 1, "delivered": 1, "failed": 0, "failed_no_profile": 0, "cancelled": 1})
    );
    assert_eq!(
        doc["due_now"],
        json!(0),
        "the refused row waits for its retry"
    );
    let checked = doc["checked_at_ms"].as_i64().expect("checked_at_ms");
    let retry = doc["next_retry_at_ms"]
        .as_i64()
        .expect("a retry is scheduled");
    assert!(
        retry > checked + 60_000 && retry <= checked + 605_000,
        "the retry is minutes away in wall-clock time: {doc}"
    );
    assert_eq!(doc["quota"]["used"], json!(2));
    assert_eq!(doc["quota"]["left"], json!(1_000_000 - 2));
    let text = run(&app, &["status"]).stdout;
    assert!(
        text.contains("rows            1 pending, 1 in flight, 1 delivered, 0 failed, 1 cancelled"),
        "{text}"
    );
    assert!(
        text.contains("quota           2 of 1000000 calls used"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_while_a_daemon_is_delivering_reports_it_running_and_then_its_refused_token() {
    let app = TestApp::spawn("").await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(50)));
    for i in 0..20 {
        app.enqueue_pc(&format!("{i}-{i}.01_00"), json!({"n": i.to_string()}))
            .await;
    }
    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "some rows delivered", || async {
        app.count("delivered").await > 0
    })
    .await;

    let busy = run(&app, &["status", "--json"]);
    let doc = busy.json();
    assert_eq!(doc["daemon"]["running"], json!(true), "{doc}");
    assert_eq!(doc["daemon"]["pid"], json!(daemon.id()), "{doc}");
    assert_eq!(
        busy.code,
        Some(0),
        "a delivering daemon needs nobody: {doc}"
    );

    app.target.answer_by_default(Reply::status(401, "no"));
    app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    app.wait_until(LONG, "the daemon to pause on the refused token", || async {
        run(&app, &["status", "--json"]).json()["pause"]["reason"] == json!("unauthorized")
    })
    .await;
    let refused = run(&app, &["status"]);
    assert_eq!(refused.code, Some(3), "{refused:?}");
    assert!(
        refused.stdout.contains("Target refuses the token")
            && refused.stdout.contains("paused          unauthorized"),
        "{}",
        refused.stdout
    );

    app.stop_daemon(&mut daemon, LONG).await;
    let stopped = run(&app, &["status", "--json"]).json();
    assert_eq!(stopped["daemon"]["running"], json!(false));
    assert_eq!(
        stopped["pause"],
        json!(null),
        "a stopped daemon pauses nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_with_the_quota_spent_and_rows_due_says_paused_and_needs_a_person() {
    let app = TestApp::spawn("[quota]\ncalls_per_day = 1\n").await;
    app.enqueue_pc("1-1.01_00", json!({"tier": "gold"})).await;
    let mut daemon = app.spawn_daemon();
    app.wait_delivered(1, LONG).await;
    app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    let text = run(&app, &["status"]);
    let doc = run(&app, &["status", "--json"]);
    app.stop_daemon(&mut daemon, LONG).await;

    assert_eq!(text.code, Some(3), "{text:?}");
    assert!(
        text.stdout.contains("due now         1 row\n")
            && text
                .stdout
                .contains("paused          quota_spent (circuit closed) until")
            && text
                .stdout
                .contains("the quota is spent: 1 row due now waits until"),
        "{}",
        text.stdout
    );
    assert_eq!(doc.code, Some(3));
    let doc = doc.json();
    assert_eq!(doc["healthy"], json!(false));
    assert_eq!(doc["daemon"]["running"], json!(true));
    assert_eq!(doc["pause"]["reason"], json!("quota_spent"), "{doc}");
    assert_eq!(doc["pause"]["until_ms"], doc["quota"]["next_free_at_ms"]);
}
