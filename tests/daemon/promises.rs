//! Regression cases for the core's promises under hostile conditions (order, quota, liveness),
//! each judged from what the fake Target received.

use crate::fake_target::{Received, Reply};
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// The row number carried in `param` by each request Target acknowledged, in arrival order.
fn acknowledged_markers(received: &[Received], param: &str) -> Vec<u32> {
    received
        .iter()
        .filter(|r| r.acknowledged)
        .filter_map(|r| r.param(param))
        .filter_map(|v| v.trim_start_matches('r').parse().ok())
        .collect()
}

/// A row of 30 that together pass the 8 KB of one GET twice over: each carries its number in
/// `a_tier` (sorted first, so a split by attributes would put the newest value in the first
/// request) and 500 letters of its own.
fn split_row(n: u32) -> serde_json::Value {
    json!({
        "a_tier": format!("r{n:02}"),
        format!("pad{n:02}a"): "p".repeat(250),
        format!("pad{n:02}b"): "q".repeat(250),
    })
}

#[tokio::test]
async fn a_merged_update_split_in_two_whose_second_part_is_refused_never_sends_an_older_value_after_a_newer_one()
 {
    let app = TestApp::spawn("[retry]\nmax_attempts = 1\n").await;
    for n in 1..=30 {
        app.enqueue_pc(PC, split_row(n)).await;
    }
    app.target
        .script([Reply::ok(), Reply::status(400, "refused")]);

    for _ in 0..40 {
        app.run_once().await;
        app.clock.advance(MINUTE);
    }

    let markers = acknowledged_markers(&app.target.received(), "profile.a_tier");
    assert!(
        markers.windows(2).all(|w| w[0] <= w[1]),
        "Target received an older a_tier after a newer one: {markers:?}"
    );
    assert_eq!(
        markers.last(),
        Some(&30),
        "the newest value is the last: {markers:?}"
    );
    assert_eq!(app.count("delivered").await, 30);
}

#[tokio::test]
async fn a_combined_update_refused_after_an_earlier_one_was_lost_never_sends_the_oldest_row_alone()
{
    let app = TestApp::spawn("[retry]\nmax_attempts = 2\n").await;
    app.enqueue_pc(PC, json!({"tier": "silver", "visits": "1"}))
        .await;
    let gold = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    // The combined update of both rows reaches Target, which applies it, but the answer is lost.
    app.target.script([Reply::reset()]);
    app.run_once().await;
    // A newer row Target refuses joins them.
    let bad = app.enqueue_pc(PC, json!({"tier": "refused-value"})).await;
    app.target
        .answer_when("refused-value", Reply::status(400, "invalid value"));

    for _ in 0..20 {
        app.clock.advance(MINUTE);
        app.run_once().await;
    }

    let tiers: Vec<String> = app
        .target
        .received()
        .iter()
        .filter_map(|r| r.param("profile.tier"))
        .collect();
    let first_gold = tiers.iter().position(|t| t == "gold");
    assert_eq!(first_gold, Some(0), "{tiers:?}");
    assert!(
        !tiers.iter().any(|t| t == "silver"),
        "the oldest row's value went out after the newer one Target may have applied: {tiers:?}"
    );
    assert_eq!(app.row(gold).await.state, "delivered");
    assert_eq!(app.row(bad).await.state, "failed");
    assert_eq!(app.count("delivered").await, 2);
}

#[tokio::test]
async fn with_fewer_calls_left_than_a_split_row_needs_the_row_waits_and_other_visitors_go_out() {
    // Three calls a day; two are spent before the split row (two requests) comes.
    let app = TestApp::spawn("[quota]\ncalls_per_day = 3\n").await;
    app.enqueue_pc("1-1.01_00", json!({"a": 1})).await;
    app.enqueue_pc("2-2.01_00", json!({"a": 2})).await;
    app.drain().await;
    let huge: serde_json::Map<String, serde_json::Value> = (0..40)
        .map(|n| (format!("b{n:02}"), json!("y".repeat(250))))
        .collect();
    let big = app.enqueue_pc(PC, serde_json::Value::Object(huge)).await;
    let small = app.enqueue_pc("3-3.01_00", json!({"a": 3})).await;

    let mut claimed = 0;
    for _ in 0..20 {
        claimed += app.run_once().await.claimed;
    }

    assert!(
        claimed <= 2,
        "rounds claimed {claimed} rows while nothing could go out"
    );
    assert_eq!(
        app.row(small).await.state,
        "delivered",
        "the small row got the last call"
    );
    let waiting = app.row(big).await;
    assert_eq!((waiting.state.as_str(), waiting.attempts), ("pending", 0));
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("waiting for the quota"),
        "{waiting:?}"
    );
    assert_eq!(app.target.received().len(), 3);

    // A day later the calls are free again and the row goes out in two requests.
    app.clock.advance(Duration::from_secs(86_400 + 120));
    app.drain().await;
    assert_eq!(app.row(big).await.state, "delivered");
    assert_eq!(app.target.received().len(), 5);
}

#[tokio::test]
async fn a_row_that_needs_more_calls_than_the_whole_quota_fails_with_the_reason_and_costs_nothing()
{
    let app = TestApp::spawn("[quota]\ncalls_per_day = 1\n").await;
    let huge: serde_json::Map<String, serde_json::Value> = (0..40)
        .map(|n| (format!("b{n:02}"), json!("y".repeat(250))))
        .collect();
    let big = app.enqueue_pc(PC, serde_json::Value::Object(huge)).await;

    for _ in 0..5 {
        app.run_once().await;
    }

    let row = app.row(big).await;
    assert_eq!(row.state, "failed");
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or("")
            .contains("quota.calls_per_day"),
        "{row:?}"
    );
    assert!(app.target.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_never_sent_after_the_minute_they_were_booked_in_ends() {
    let app = TestApp::spawn("[workers]\nconcurrency = 1\n").await;
    for n in 0..5 {
        app.enqueue_pc(&format!("{n}-{n}.01_00"), json!({"a": n}))
            .await;
    }
    // The first answer takes a while, and meanwhile three minutes pass on the daemon's clock.
    app.target
        .script([Reply::ok().after(Duration::from_millis(500))]);
    let clock = app.clock.clone();
    let mover = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        clock.advance(3 * MINUTE);
    });

    let report = app.run_once().await;
    mover.await.expect("clock mover");

    assert_eq!(
        app.target.received().len(),
        1,
        "only the call sent within its booking"
    );
    assert_eq!((report.delivered, report.handed_back), (1, 4));
    assert_eq!(app.attempts_counted().await, 0);
    // The rest go out on a new booking, in the minute they are sent.
    app.drain().await;
    assert_eq!(app.target.received().len(), 5);
}

#[tokio::test]
async fn a_request_that_always_fails_for_one_row_fails_that_row_and_pauses_nobody_for_long() {
    let app = TestApp::spawn("[retry]\nmax_delay = \"1m\"\n").await;
    app.target
        .answer_when("profile.poison=yes", Reply::status(403, "blocked by WAF"));
    let poison = app.enqueue_pc(PC, json!({"poison": "yes"})).await;
    let mut good = Vec::new();
    for n in 0..20 {
        good.push(
            app.enqueue_pc(&format!("{n}-{n}.01_00"), json!({"a": n}))
                .await,
        );
    }

    let mut rounds = 0;
    while app.count("pending").await > 0 {
        rounds += 1;
        assert!(rounds < 400, "the outbox never settled");
        app.run_once().await;
        app.clock.advance(Duration::from_secs(30));
    }

    let row = app.row(poison).await;
    assert_eq!(row.state, "failed", "{row:?}");
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or("")
            .contains("other rows"),
        "{row:?}"
    );
    for id in good {
        assert_eq!(app.row(id).await.state, "delivered");
    }
    let poisoned = app
        .target
        .received()
        .iter()
        .filter(|r| r.query.contains("poison"))
        .count();
    // The first, perhaps a probe or two, then one per strike.
    assert!(poisoned <= 16, "{poisoned} requests for the poison row");
    assert_eq!(
        app.attempts_counted().await,
        0,
        "no refusal by Target was counted"
    );
}

#[tokio::test]
async fn a_good_row_split_from_a_poison_row_starts_afresh_and_is_not_failed_for_its_strikes() {
    let app = TestApp::spawn("[retry]\nmax_delay = \"1m\"\n").await;
    app.target.answer_when(
        "profile.poison=yes",
        Reply::status(500, "breaks the server"),
    );
    let poison = app.enqueue_pc(PC, json!({"poison": "yes"})).await;
    let good = app.enqueue_pc(PC, json!({"zz": "good"})).await;
    for n in 0..5 {
        app.enqueue_pc(&format!("{n}-{n}.01_00"), json!({"a": n}))
            .await;
    }

    // The combined update of both rows strikes until it is split; the poison row alone strikes
    // until it fails.
    let mut rounds = 0;
    while app.row(poison).await.state != "failed" {
        rounds += 1;
        assert!(rounds < 400, "the poison row never failed");
        app.run_once().await;
        app.clock.advance(Duration::from_secs(30));
    }
    assert_eq!(app.row(good).await.state, "pending");

    // One outage-like answer for the good row, now alone: a flaky network's, not its own doing.
    app.target.script([Reply::status(500, "")]);
    while app.row(good).await.state == "pending" {
        rounds += 1;
        assert!(rounds < 400, "the good row never settled");
        app.run_once().await;
        app.clock.advance(Duration::from_secs(30));
    }
    let row = app.row(good).await;
    assert_eq!(row.state, "delivered", "{row:?}");
}

#[tokio::test]
async fn a_pause_target_asked_for_survives_a_restart() {
    let app = TestApp::spawn("").await;
    app.target
        .script([Reply::status(429, "").retry_after("120")]);
    app.enqueue_pc(PC, json!({"a": 1})).await;
    app.run_once().await;
    assert_eq!(app.target.received().len(), 1);

    // A restart, as `run` does it (the helper follows `daemon::start`).
    let restarted = app.restarted().await;
    restarted.run_once(&app.stop).await.expect("round runs");
    assert_eq!(
        app.target.received().len(),
        1,
        "nothing sent during the pause"
    );

    app.clock.advance(Duration::from_secs(121));
    restarted.run_once(&app.stop).await.expect("round runs");
    assert_eq!(app.target.received().len(), 2);
}
