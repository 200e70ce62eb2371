//! Coalescing: a visitor's pending rows go out as one call carrying the newest values, and each
//! row still records its own outcome.

use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;

#[tokio::test]
async fn many_rows_of_one_visitor_go_out_as_one_call_with_the_newest_values() {
    let app = TestApp::spawn("").await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            app.enqueue_pc(
                PC,
                json!({"visits": n, "tier": if n < 5 { "silver" } else { "gold" }}),
            )
            .await,
        );
    }
    ids.push(app.enqueue_pc(PC, json!({"store": "12"})).await);
    let other = app.enqueue_pc("7-7.01_00", json!({"visits": 1})).await;

    let report = app.run_once().await;

    assert_eq!(
        (report.claimed, report.delivered, report.requests),
        (12, 12, 2)
    );
    let received = app.target.received();
    let ours = received
        .iter()
        .find(|r| r.param("mboxPC").as_deref() == Some(PC))
        .expect("the visitor's call");
    assert_eq!(
        ours.params(),
        vec![
            ("mboxPC".to_owned(), PC.to_owned()),
            ("profile.store".to_owned(), "12".to_owned()),
            ("profile.tier".to_owned(), "gold".to_owned()),
            ("profile.visits".to_owned(), "9".to_owned()),
        ]
    );
    for id in ids.into_iter().chain([other]) {
        let row = app.row(id).await;
        assert_eq!(
            (row.state.as_str(), row.sends, row.last_status),
            ("delivered", 1, Some(200))
        );
    }
}

#[tokio::test]
async fn without_coalescing_each_row_is_its_own_call() {
    let app = TestApp::spawn("[quota]\ncoalesce = false\n").await;
    for n in 0..4 {
        app.enqueue_pc(PC, json!({ "visits": n })).await;
    }
    app.drain().await;
    let visits = app.target.values_of("profile.visits");
    assert_eq!(visits, ["0", "1", "2", "3"]);
}

#[tokio::test]
async fn a_combined_update_target_refuses_is_sent_again_row_by_row_in_order() {
    let app = TestApp::spawn("[retry]\nmax_attempts = 1\n").await;
    app.target.script([Reply::status(400, "bad value")]);
    let older = app.enqueue_pc(PC, json!({"tier": "silver"})).await;
    let newer = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    let first = app.run_once().await;
    assert_eq!((first.claimed, first.requests), (2, 1));
    let row = app.row(older).await;
    assert_eq!(
        (row.state.as_str(), row.attempts),
        ("pending", 0),
        "the refusal is not pinned on either row yet"
    );
    app.drain().await;

    let tiers = app.target.values_of("profile.tier");
    assert_eq!(
        tiers,
        ["gold", "silver", "gold"],
        "combined, then each on its own, oldest first"
    );
    assert_eq!(app.row(older).await.state, "delivered");
    assert_eq!(app.row(newer).await.state, "delivered");
}

#[tokio::test]
async fn coalescing_stops_at_max_rows_per_call() {
    let app = TestApp::spawn("[quota]\nmax_rows_per_call = 3\n").await;
    for n in 0..7 {
        app.enqueue_pc(PC, json!({ "visits": n })).await;
    }
    app.drain().await;
    let visits = app.target.values_of("profile.visits");
    assert_eq!(visits, ["2", "5", "6"]);
}
