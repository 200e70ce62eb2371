//! The built binary as a process: crash recovery after SIGKILL, the single-instance lock, graceful
//! shutdown, and refusing to start without a destination.

use crate::fake_target::Reply;
use crate::helpers::{TestApp, terminate, wait_exit};
use serde_json::json;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

async fn enqueue_visitors(app: &TestApp, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(
            app.enqueue_pc(&format!("{i}-{i}.01_00"), json!({"n": i.to_string()}))
                .await,
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_in_flight_when_the_daemon_is_killed_are_delivered_after_restart() {
    let app = TestApp::spawn("").await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(400)));
    let ids = enqueue_visitors(&app, 40).await;

    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "a request in flight", || async {
        !app.target.received().is_empty()
    })
    .await;
    daemon.kill().expect("SIGKILL");
    let _ = daemon.wait();
    let in_flight = app.count("in_flight").await;
    assert!(in_flight > 0, "the kill left rows in flight");

    app.target.answer_by_default(Reply::ok());
    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "every row delivered", || async {
        app.count("delivered").await == 40
    })
    .await;
    app.stop_daemon(&mut daemon, LONG).await;

    let received = app.target.received();
    for (i, _) in ids.iter().enumerate() {
        let value = i.to_string();
        assert!(
            received
                .iter()
                .any(|r| r.param("profile.n").as_deref() == Some(&value)),
            "row {i} never reached Target"
        );
    }
    assert!(
        app.daemon_log()
            .contains("pending again and will be sent again"),
        "{}",
        app.daemon_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_database_refuses_to_start() {
    let app = TestApp::spawn("").await;
    let mut first = app.spawn_daemon();
    app.wait_until(LONG, "the first daemon to start", || async {
        app.daemon_log().contains("delivering rows")
    })
    .await;

    let second = app.command(&["run"]).output().expect("second daemon runs");

    assert!(!second.status.success());
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("another profile-outbox daemon"),
        "{message}"
    );
    assert!(
        message.contains(&first.id().to_string()),
        "names the holder's pid: {message}"
    );
    app.stop_daemon(&mut first, LONG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_hands_back_the_rest_and_exits_zero() {
    let app = TestApp::spawn("[workers]\nconcurrency = 4\nbatch_size = 16\n").await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(800)));
    enqueue_visitors(&app, 40).await;

    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "requests in flight", || async {
        !app.target.received().is_empty()
    })
    .await;
    terminate(&daemon);
    let status = wait_exit(&mut daemon, LONG).await;

    assert!(status.success(), "{status:?}\n{}", app.daemon_log());
    assert_eq!(app.count("in_flight").await, 0);
    let delivered = app.count("delivered").await;
    assert!(delivered >= 1, "requests in flight were allowed to finish");
    assert_eq!(
        delivered as usize,
        app.target.received().len(),
        "every request sent was recorded delivered"
    );
    assert_eq!(
        app.count("pending").await,
        40 - delivered,
        "the rest went back to pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlasting_the_shutdown_deadline_is_handed_back_to_pending() {
    let app = TestApp::spawn("[workers]\nshutdown_deadline = \"300ms\"\n").await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_secs(20)));
    enqueue_visitors(&app, 3).await;

    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "requests in flight", || async {
        app.target.received().len() == 3
    })
    .await;
    terminate(&daemon);
    let status = wait_exit(&mut daemon, Duration::from_secs(10)).await;

    assert!(status.success());
    assert_eq!(app.count("pending").await, 3);
    assert_eq!(app.count("in_flight").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_a_client_code_refuses_and_says_what_to_configure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, database) = database_only_config(dir.path());

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_profile-outbox"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .output()
        .expect("runs");

    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("target.client_code is not set") && message.contains("--sandbox"),
        "{message}"
    );
    assert!(
        !database.exists(),
        "no database is made for a daemon that cannot deliver"
    );
}

/// A config file that names only a database in `dir`: no client code, everything else built in.
fn database_only_config(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = dir.join("config.toml");
    let database = dir.join("outbox.db");
    std::fs::write(
        &config,
        format!("[database]\npath = {:?}\n", database.display().to_string()),
    )
    .expect("config written");
    (config, database)
}
