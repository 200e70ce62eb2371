//! Quota stewardship: the rolling 24-hour ledger holds across restarts and clock steps, and
//! pauses for slow-downs, outages and refused tokens never cost a row its attempts.

use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use profile_outbox::token_watch::TokenWatch;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

async fn enqueue_visitors(app: &TestApp, count: usize) {
    for i in 0..count {
        app.enqueue_pc(&format!("{i}-{i}.01_00"), json!({"n": i}))
            .await;
    }
}

/// True when no span of 24 hours in `calls` (timeline time, number of calls) holds more than `limit`.
fn never_over(calls: &[(i64, u32)], limit: u32) -> Result<(), String> {
    for (i, (start, _)) in calls.iter().enumerate() {
        let in_span: u32 = calls[i..]
            .iter()
            .take_while(|(t, _)| *t < start + DAY_MS)
            .map(|(_, n)| n)
            .sum();
        if in_span > limit {
            return Err(format!("{in_span} calls in the 24 hours from {start}"));
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_ledger_is_never_exceeded_over_simulated_days_with_a_backlog_far_larger_than_the_quota()
{
    let app = TestApp::spawn("[quota]\ncalls_per_day = 300\ncoalesce = false\n").await;
    enqueue_visitors(&app, 1_000).await;
    let mut calls = Vec::new();
    let end = app.now_ms() + 3 * DAY_MS;
    while app.now_ms() < end {
        let report = app.run_once().await;
        if report.requests > 0 {
            calls.push((app.now_ms(), report.requests));
        }
        // Time passes: as long as the daemon says to wait, or a few minutes between batches.
        let step = report.wait.map_or(7 * 60_000, |w| {
            i64::try_from(w.as_millis()).unwrap_or(DAY_MS)
        });
        app.clock.advance_ms(step.clamp(1_000, HOUR_MS));
    }
    let total: u32 = calls.iter().map(|(_, n)| n).sum();
    assert_eq!(never_over(&calls, 300), Ok(()));
    assert!(
        total >= 900,
        "delivery resumed by itself as calls aged out: {total} calls in 3 days"
    );
    assert_eq!(app.target.received().len() as u32, total);
}

#[tokio::test]
async fn a_wall_clock_stepped_forward_or_back_does_not_allow_overspending() {
    let app = TestApp::spawn("[quota]\ncalls_per_day = 50\ncoalesce = false\n").await;
    enqueue_visitors(&app, 200).await;
    app.drain().await;
    assert_eq!(app.target.received().len(), 50);

    app.clock.step_wall_ms(25 * HOUR_MS);
    let stepped_forward = app
        .restarted()
        .await
        .run_once(&app.stop)
        .await
        .expect("batch runs");
    assert!(
        stepped_forward.quota_spent,
        "a day's wall-clock jump did not free the quota"
    );
    app.clock.step_wall_ms(-50 * HOUR_MS);
    let stepped_back = app
        .restarted()
        .await
        .run_once(&app.stop)
        .await
        .expect("batch runs");
    assert!(stepped_back.quota_spent);
    assert_eq!(app.target.received().len(), 50);

    app.clock.advance_ms(DAY_MS + 2 * 60_000);
    let next_day = app.restarted().await;
    let mut sent = 0;
    for _ in 0..20 {
        sent += next_day
            .run_once(&app.stop)
            .await
            .expect("batch runs")
            .requests;
    }
    assert_eq!(sent, 50, "after 24 real hours the next day's calls go out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_and_restarted_while_the_quota_is_spent_sends_nothing_more() {
    let app = TestApp::spawn("[quota]\ncalls_per_day = 20\ncoalesce = false\n").await;
    enqueue_visitors(&app, 60).await;
    let mut daemon = app.spawn_daemon();
    let long = Duration::from_secs(30);
    app.wait_until(long, "the quota to be spent", || async {
        app.daemon_log().matches("quota spent").count() == 1
    })
    .await;
    for round in 2..=6 {
        daemon.kill().expect("SIGKILL");
        let _ = daemon.wait();
        daemon = app.spawn_daemon();
        app.wait_until(
            long,
            "the restarted daemon to find the quota spent",
            || async { app.daemon_log().matches("quota spent").count() == round },
        )
        .await;
    }
    app.stop_daemon(&mut daemon, long).await;
    assert_eq!(app.target.received().len(), 20);
    assert_eq!(app.count("delivered").await, 20);
    assert_eq!(app.count("pending").await, 40);
}

#[tokio::test]
async fn retry_after_pauses_every_row_for_exactly_that_long() {
    let app = TestApp::spawn("").await;
    app.target
        .script([Reply::status(429, "").retry_after("120")]);
    enqueue_visitors(&app, 5).await;

    // The first batch's requests go out together; the 429 closes the gate for what follows.
    let first = app.run_once().await;
    assert!(first.requests >= 1);
    let before = app.target.received().len();
    for _ in 0..119 {
        app.clock.advance_ms(1_000);
        let report = app.run_once().await;
        assert!(
            report.wait.is_some(),
            "paused until 120 s have passed: {report:?}"
        );
    }
    assert_eq!(
        app.target.received().len(),
        before,
        "nothing sent for 119 s"
    );
    app.clock.advance_ms(1_000);
    app.drain().await;
    assert_eq!(app.count("delivered").await, 5);
    let attempts = app.attempts_counted().await;
    assert_eq!(attempts, 0);
}

#[tokio::test]
async fn a_thirty_minute_outage_ends_with_every_row_delivered_and_no_attempt_counted() {
    let app =
        TestApp::spawn("[retry]\nmax_attempts = 1\ninitial_delay = \"5s\"\nmax_delay = \"5m\"\n")
            .await;
    app.target
        .answer_by_default(Reply::status(502, "bad gateway"));
    for visitor in 0..5 {
        for n in 0..4 {
            app.enqueue_pc(&format!("{visitor}-{visitor}.01_00"), json!({"n": n}))
                .await;
        }
    }
    let outage_end = app.now_ms() + 30 * 60_000;
    // The first batch's requests (one per visitor) go out together before any answer is back.
    let first = app.run_once().await;
    assert_eq!(first.requests, 5);
    let mut rounds_with_requests = 0;
    while app.now_ms() < outage_end {
        let report = app.run_once().await;
        assert!(
            report.requests <= 1,
            "only single probes while Target is down: {report:?}"
        );
        rounds_with_requests += usize::from(report.requests > 0);
        let wait = report
            .wait
            .map_or(1_000, |w| i64::try_from(w.as_millis()).unwrap_or(1_000));
        app.clock.advance_ms(wait.max(1));
    }
    let probes = app.target.received().len() - 5;
    assert_eq!(probes, rounds_with_requests);
    assert!(
        (5..=20).contains(&probes),
        "probes at growing intervals, not a flood: {probes}"
    );

    app.target.answer_by_default(Reply::ok());
    for _ in 0..100 {
        let report = app.run_once().await;
        if let Some(wait) = report.wait {
            app.clock.advance(wait);
        }
    }
    assert_eq!(app.count("delivered").await, 20);
    let attempts = app.attempts_counted().await;
    assert_eq!(attempts, 0);
}

#[tokio::test]
async fn a_refused_token_pauses_delivery_until_the_token_file_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "expired\n").expect("token written");
    let app = TestApp::spawn(&format!(
        "[target]\ntoken_file = {:?}\n[retry]\nmax_attempts = 1\nmax_delay = \"1h\"\n",
        token_file.display().to_string()
    ))
    .await;
    app.target.require_token("fresh");
    let ids = [
        app.enqueue_pc(PC, json!({"a": 1})).await,
        app.enqueue_pc("2-2.01_00", json!({"a": 2})).await,
    ];
    let mut watch = TokenWatch::new(
        Some(token_file.clone()),
        profile_outbox::config::Token::from_file_text("expired").expect("a valid token"),
    );

    app.run_once().await;
    for _ in 0..5 {
        let report = app.run_once().await;
        assert!(report.wait.is_some(), "paused while the token is refused");
        app.clock.advance_ms(1_000);
    }
    assert!(
        !watch.check(&app.deliverer),
        "an unchanged file is no new token"
    );
    let state: String = sqlx::query_scalar("SELECT pause_reason FROM daemon_state")
        .fetch_one(&app.pool)
        .await
        .expect("state");
    assert_eq!(state, "unauthorized");

    std::fs::write(&token_file, "fresh\n").expect("token replaced");
    assert!(watch.check(&app.deliverer));
    app.drain().await;

    for id in ids {
        let row = app.row(id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("delivered", 0));
    }
    let last = app.target.received().pop().expect("requests");
    assert_eq!(last.authorization.as_deref(), Some("Bearer fresh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_makes_the_daemon_read_a_new_token_and_does_not_stop_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "expired\n").expect("token written");
    let app = TestApp::spawn(&format!(
        "[target]\ntoken_file = {:?}\n",
        token_file.display().to_string()
    ))
    .await;
    app.target.require_token("fresh");
    app.enqueue_pc(PC, json!({"a": 1})).await;
    let mut daemon = app.spawn_daemon();
    let long = Duration::from_secs(30);
    app.wait_until(long, "the token to be refused", || async {
        app.target.anything_received()
    })
    .await;

    std::fs::write(&token_file, "fresh\n").expect("token replaced");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    app.wait_until(long, "the row to be delivered", || async {
        app.count("delivered").await == 1
    })
    .await;

    assert!(
        daemon.try_wait().expect("status").is_none(),
        "SIGHUP did not end the daemon"
    );
    app.stop_daemon(&mut daemon, long).await;
    assert!(
        app.daemon_log()
            .contains("delivery paused: Target refuses the token"),
        "{}",
        app.daemon_log()
    );
}

#[tokio::test]
async fn the_visible_state_shows_calls_in_the_window_and_when_the_next_is_allowed() {
    let app = TestApp::spawn("[quota]\ncalls_per_day = 3\ncoalesce = false\n").await;
    enqueue_visitors(&app, 5).await;
    app.drain().await;
    app.run_once().await;

    let row = sqlx::query(
        "SELECT quota_limit, calls_in_window, next_call_at, pause_reason, paused_until, circuit, wall_ms, last_delivery_at
         FROM daemon_state",
    )
    .fetch_one(&app.pool)
    .await
    .expect("state row");
    let (limit, used): (i64, i64) = (row.get(0), row.get(1));
    let (next, reason, until, circuit): (Option<i64>, Option<String>, Option<i64>, String) =
        (row.get(2), row.get(3), row.get(4), row.get(5));
    let (wall, last_delivery): (i64, Option<i64>) = (row.get(6), row.get(7));
    assert_eq!((limit, used), (3, 3));
    assert_eq!(reason.as_deref(), Some("quota_spent"));
    assert_eq!(circuit, "closed");
    let next = next.expect("next call time");
    assert!(
        (DAY_MS..=DAY_MS + 2 * 60_000).contains(&(next - wall)),
        "next call in {} ms",
        next - wall
    );
    assert_eq!(until, Some(next));
    assert!(last_delivery.is_some());
}
