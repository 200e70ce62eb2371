//! Each class of answer leads to the right row state, and only the row's own faults count.

use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_refused_row_backs_off_exponentially_and_ends_failed_after_max_attempts() {
    let app =
        TestApp::spawn("[retry]\nmax_attempts = 3\ninitial_delay = \"10s\"\nmax_delay = \"1h\"\n")
            .await;
    app.target
        .answer_by_default(Reply::status(400, "invalid parameter"));
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    let start = app.now_ms();
    app.run_once().await;
    let first = app.row(id).await;
    assert_eq!(
        (first.state.as_str(), first.attempts, first.last_status),
        ("pending", 1, Some(400))
    );
    let wait1 = first.next_attempt_at - start;
    assert!((5_000..=10_000).contains(&wait1), "first wait {wait1} ms");
    assert_eq!(
        app.run_once().await.claimed,
        0,
        "not due before its retry time"
    );

    app.clock.advance_ms(wait1);
    app.run_once().await;
    let second = app.row(id).await;
    assert_eq!((second.state.as_str(), second.attempts), ("pending", 2));
    let wait2 = second.next_attempt_at - app.now_ms();
    assert!((10_000..=20_000).contains(&wait2), "second wait {wait2} ms");

    app.clock.advance_ms(wait2);
    app.run_once().await;
    let last = app.row(id).await;
    assert_eq!(
        (last.state.as_str(), last.attempts, last.sends),
        ("failed", 3, 3)
    );
    let reason = last.last_error.unwrap_or_default();
    assert!(
        reason.contains("refused the row 3 times") && reason.contains("invalid parameter"),
        "{reason}"
    );
    assert_eq!(app.target.received().len(), 3);
}

#[tokio::test]
async fn a_row_breaking_targets_limits_fails_with_its_reason_and_no_request() {
    let app = TestApp::spawn("").await;
    let long = app
        .enqueue_pc(PC, json!({"loyalty_note": "x".repeat(412)}))
        .await;
    let ecid = app
        .insert_raw(
            Some("12345678901234567890123456789012345678"),
            None,
            r#"{"a":"b"}"#,
        )
        .await;
    let null = app.insert_raw(None, Some("CRM-1"), r#"{"a":null}"#).await;
    let empty = app.insert_raw(None, Some("CRM-2"), "{}").await;
    let healthy = app.enqueue_pc("1-2.01_00", json!({"ok": "yes"})).await;

    let report = app.run_once().await;

    assert_eq!((report.failed, report.delivered), (4, 1));
    let long = app.row(long).await;
    assert_eq!(
        (
            long.state.as_str(),
            long.attempts,
            long.sends,
            long.last_status
        ),
        ("failed", 0, 0, None)
    );
    assert_eq!(
        long.last_error.as_deref(),
        Some("value of loyalty_note: is 412 characters, Target allows 256")
    );
    assert!(
        app.row(ecid)
            .await
            .last_error
            .unwrap_or_default()
            .contains("Experience Cloud ID")
    );
    assert!(
        app.row(null)
            .await
            .last_error
            .unwrap_or_default()
            .contains("null")
    );
    assert!(
        app.row(empty)
            .await
            .last_error
            .unwrap_or_default()
            .contains("empty")
    );
    assert_eq!(app.row(healthy).await.state, "delivered");
    assert_eq!(
        app.target.received().len(),
        1,
        "only the healthy row was sent"
    );
}

#[tokio::test]
async fn slow_down_with_retry_after_pauses_everyone_without_counting_an_attempt() {
    let app = TestApp::spawn("").await;
    app.target.script([Reply::status(429, "").retry_after("1")]);
    let first = app.enqueue_pc(PC, json!({"a": "1"})).await;

    app.run_once().await;
    let row = app.row(first).await;
    assert_eq!(
        (row.state.as_str(), row.attempts, row.last_status),
        ("pending", 0, Some(429))
    );
    app.enqueue_pc("9-9.01_00", json!({"b": "2"})).await;
    let paused = app.run_once().await;
    assert_eq!(paused.claimed, 0);
    let wait = paused.wait.expect("the gate reports its wait");
    assert!(
        wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    assert_eq!(app.target.received().len(), 1, "nothing sent while paused");

    app.clock.advance(wait);
    app.drain().await;
    assert_eq!(app.count("delivered").await, 2);
    assert_eq!(app.row(first).await.attempts, 0);
}

#[tokio::test]
async fn outages_bad_tokens_and_odd_answers_never_use_up_attempts() {
    let app = TestApp::spawn(
        "[retry]\nmax_attempts = 1\ninitial_delay = \"10ms\"\nmax_delay = \"20ms\"\n",
    )
    .await;
    let answers = [
        (Reply::status(500, "boom"), "Target unavailable (HTTP 500)"),
        (Reply::status(502, ""), "HTTP 502"),
        (Reply::status(503, ""), "slow down (HTTP 503)"),
        (Reply::status(401, ""), "refused the token (HTTP 401)"),
        (Reply::status(403, ""), "refused the token (HTTP 403)"),
        (
            Reply::status(200, "<html>captive portal</html>"),
            "not Target's success body",
        ),
        (Reply::status(200, ""), "not Target's success body"),
    ];
    for (reply, expected) in answers {
        app.target.script([reply.clone()]);
        let id = app.enqueue_pc(PC, json!({"a": "1"})).await;
        app.run_once().await;
        let row = app.row(id).await;
        assert_eq!(
            (row.state.as_str(), row.attempts),
            ("pending", 0),
            "{reply:?}"
        );
        assert!(
            row.last_error
                .clone()
                .unwrap_or_default()
                .contains(expected),
            "{reply:?}: {row:?}"
        );
        // The gate's pause is short here; wait it out and let the probe deliver.
        app.clock.advance(Duration::from_millis(50));
        app.drain().await;
        assert_eq!(app.row(id).await.state, "delivered", "{reply:?}");
    }
}

#[tokio::test]
async fn an_unreachable_target_pauses_delivery_and_rows_wait_untouched() {
    let app = TestApp::spawn("[retry]\nmax_attempts = 1\n").await;
    // A port nothing listens on: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let deliverer = crate::helpers::build_deliverer(
        &app.settings,
        &app.pool,
        &app.clock,
        &format!("http://{closed}"),
    )
    .await;
    let ids = [
        app.enqueue_pc(PC, json!({"a": "1"})).await,
        app.enqueue_pc("2-2.01_00", json!({"a": "1"})).await,
    ];

    let report = deliverer.run_once(&app.stop).await.expect("batch runs");
    let again = deliverer.run_once(&app.stop).await.expect("batch runs");

    assert_eq!(report.delivered + report.failed, 0);
    assert!(again.wait.is_some(), "delivery is paused");
    for id in ids {
        let row = app.row(id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("pending", 0));
        assert!(
            row.last_error
                .unwrap_or_default()
                .contains("Target unreachable")
        );
    }
}
