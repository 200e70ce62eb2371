//! A visitor's newer value is never overwritten by an older one.

use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;

#[tokio::test]
async fn a_newer_value_is_never_overwritten_by_an_older_row_that_was_retried() {
    // Coalescing off: this is about the claim's ordering rule alone.
    let app = TestApp::spawn("[retry]\ninitial_delay = \"30s\"\n[quota]\ncoalesce = false\n").await;
    app.target.script([Reply::status(400, "try again")]);
    let older = app.enqueue_pc(PC, json!({"tier": "silver"})).await;
    let newer = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    let other = app.enqueue_pc("5-5.01_00", json!({"tier": "bronze"})).await;

    let first = app.run_once().await;
    assert_eq!(
        first.claimed, 2,
        "the older row and the other visitor's row, not the newer one"
    );
    assert_eq!(app.row(older).await.state, "pending");
    assert_eq!(app.row(newer).await.state, "pending");
    assert_eq!(app.row(other).await.state, "delivered");
    assert_eq!(
        app.run_once().await.claimed,
        0,
        "the newer row waits behind the older one"
    );

    app.clock
        .advance_ms(app.row(older).await.next_attempt_at - app.now_ms());
    app.drain().await;

    let tiers: Vec<String> = app
        .target
        .received()
        .iter()
        .filter(|r| r.param("mboxPC").as_deref() == Some(PC))
        .filter_map(|r| r.param("profile.tier"))
        .collect();
    assert_eq!(tiers, ["silver", "silver", "gold"]);
    assert_eq!(app.row(newer).await.state, "delivered");
}

#[tokio::test]
async fn a_failed_row_stops_holding_back_its_visitors_newer_rows() {
    let app = TestApp::spawn("").await;
    let bad = app.insert_raw(Some(PC), None, r#"{"tier":[1]}"#).await;
    let good = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    app.drain().await;

    assert_eq!(app.row(bad).await.state, "failed");
    assert_eq!(app.row(good).await.state, "delivered");
}
