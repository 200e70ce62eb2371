//! Network and Target faults: the daemon process delivers a backlog while the fake Target refuses
//! connections, cuts answers off, never answers, answers slowly, storms with 5xx, asks to slow
//! down, refuses the token until it changes, or answers with malformed or empty bodies.

use super::checker::check;
use super::scale::scale;
use crate::fake_target::Reply;
use crate::helpers::TestApp;
use crate::producer::fill;
use std::time::Duration;

const SETTINGS: &str = "[target]\ntimeout = \"400ms\"\n[retry]\ninitial_delay = \"50ms\"\nmax_delay = \"500ms\"\nmax_attempts = 1\n";

/// Fills the outbox, lets `fault` act on the fake while the daemon runs, then checks.
async fn deliver_through(case: &str, app: TestApp, fault: impl AsyncFnOnce(&TestApp)) {
    let rows = fill(
        &app.pool,
        case,
        scale().network_rows / 4,
        scale().network_rows,
    )
    .await;
    let mut daemon = app.spawn_daemon();
    fault(&app).await;
    app.wait_delivered(rows, Duration::from_secs(600)).await;
    app.stop_daemon(&mut daemon, Duration::from_secs(30)).await;
    let attempts = app.attempts_counted().await;
    let mut verdict = check(case, &app.pool, &app.target.received(), 1_000_000).await;
    verdict.extra = format!("attempts_counted={attempts}");
    verdict.assert_clean();
    assert_eq!(attempts, 0, "no fault of Target's counted against a row");
}

async fn with_chaos(case: &str, chance: f64, fault: Reply) {
    let app = TestApp::spawn(SETTINGS).await;
    app.target.chaos(chance, fault);
    deliver_through(case, app, async |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_lose_nothing() {
    let app = TestApp::spawn(SETTINGS).await;
    // Down before the daemon starts, so it meets refused connections first; then up and down.
    app.target.go_down();
    deliver_through("connection refused", app, async |app| {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            app.target.come_back().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.target.go_down();
        }
        app.target.come_back().await;
        assert!(
            app.daemon_log().contains("endpoint_down"),
            "the daemon met refused connections"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_cut_off_midway_lose_nothing() {
    with_chaos("reset mid-response", 0.3, Reply::reset()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_answered_lose_nothing() {
    with_chaos("never answers", 0.1, Reply::hang()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_lose_nothing() {
    with_chaos(
        "slow answers",
        0.5,
        Reply::ok().after(Duration::from_millis(150)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storms_of_server_errors_lose_nothing() {
    with_chaos("5xx storm", 0.5, Reply::status(502, "bad gateway")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_with_retry_after_loses_nothing() {
    with_chaos(
        "429 with Retry-After",
        0.2,
        Reply::status(429, "").retry_after("1"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_without_retry_after_loses_nothing() {
    with_chaos("429 without Retry-After", 0.3, Reply::status(429, "")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_lose_nothing() {
    with_chaos(
        "malformed body",
        0.3,
        Reply::status(200, "<html><body>Gateway login</body></html>"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_bodies_lose_nothing() {
    with_chaos("empty body", 0.3, Reply::status(200, "")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_loses_nothing_once_the_token_file_changes() {
    let token_file = tempfile::NamedTempFile::new().expect("token file");
    std::fs::write(token_file.path(), "stale\n").expect("token written");
    let settings = format!(
        "{SETTINGS}[target]\ntoken_file = {:?}\n",
        token_file.path().display().to_string()
    );
    let app = TestApp::spawn(&settings).await;
    app.target.require_token("fresh");
    deliver_through("401 until the token changes", app, async |app| {
        app.wait_until(Duration::from_secs(30), "a refused request", || async {
            app.target.anything_received()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        std::fs::write(token_file.path(), "fresh\n").expect("token replaced");
    })
    .await;
}
