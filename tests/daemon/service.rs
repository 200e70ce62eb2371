//! Running as a service: systemd notifications, retention, the outbox-full cap, metrics.

use crate::helpers::{PC, TestApp};
use profile_outbox::housekeeping;
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);
const DAY_MS: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_the_daemon_sends_ready_status_watchdog_pings_and_stopping_in_order() {
    let app = TestApp::spawn("").await;
    app.enqueue_pc(PC, json!({"a": 1})).await;
    let socket_path = app.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket binds");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout set");
    let log = std::fs::File::create(app.log_path()).expect("log file");
    let mut daemon = app
        .command(&["run"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");

    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    let start = std::time::Instant::now();
    while messages
        .iter()
        .filter(|m: &&String| m.as_str() == "WATCHDOG=1")
        .count()
        < 3
    {
        assert!(start.elapsed() < LONG, "messages so far: {messages:?}");
        if let Ok(n) = socket.recv(&mut buf) {
            messages.extend(notifications(&buf[..n]));
        }
    }
    app.stop_daemon(&mut daemon, LONG).await;
    while let Ok(n) = socket.recv(&mut buf) {
        messages.extend(notifications(&buf[..n]));
    }

    let position = |wanted: &str| messages.iter().position(|m| m.starts_with(wanted));
    let (ready, watchdog, stopping) = (
        position("READY=1"),
        position("WATCHDOG=1"),
        position("STOPPING=1"),
    );
    assert!(
        ready.is_some() && watchdog.is_some() && stopping.is_some(),
        "{messages:?}"
    );
    assert!(ready < watchdog && watchdog < stopping, "{messages:?}");
    assert_eq!(
        messages.last().map(String::as_str),
        Some("STOPPING=1"),
        "{messages:?}"
    );
    let status = messages
        .iter()
        .find(|m| m.starts_with("STATUS="))
        .expect("a STATUS line");
    assert!(
        status.contains("rows waiting") && status.contains("calls left"),
        "{status}"
    );
}

/// The assignments in one datagram to the notify socket: one per line, as systemd reads them.
fn notifications(datagram: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(datagram)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn delivered_and_cancelled_rows_are_pruned_after_retention_and_failed_rows_are_kept() {
    let app = TestApp::spawn("").await;
    let delivered = app.enqueue_pc(PC, json!({"a": 1})).await;
    let failed = app
        .insert_raw(Some("2-2.01_00"), None, r#"{"a":null}"#)
        .await;
    let pending = app.enqueue_pc("3-3.01_00", json!({"a": 1})).await;
    app.drain().await;
    sqlx::query("UPDATE outbox SET state = 'pending', next_attempt_at = ?2 WHERE id = ?1")
        .bind(pending)
        .bind(app.now_ms() + 30 * DAY_MS)
        .execute(&app.pool)
        .await
        .expect("row scheduled far ahead");
    let cancelled = app.enqueue_pc("4-4.01_00", json!({"a": 1})).await;
    sqlx::query("UPDATE outbox SET state = 'cancelled', updated_at = ?2 WHERE id = ?1")
        .bind(cancelled)
        .bind(app.now_ms())
        .execute(&app.pool)
        .await
        .expect("row cancelled");
    let retention = Duration::from_secs(7 * 86_400);

    assert_eq!(
        housekeeping::prune(&app.pool, app.now_ms() + 6 * DAY_MS, retention)
            .await
            .expect("prunes"),
        0
    );
    let pruned = housekeeping::prune(&app.pool, app.now_ms() + 8 * DAY_MS, retention)
        .await
        .expect("prunes");

    assert_eq!(pruned, 2);
    let remaining: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("ids");
    assert_eq!(remaining, [failed, pending]);
    assert!(!remaining.contains(&delivered));
    housekeeping::checkpoint(&app.pool)
        .await
        .expect("checkpoint runs");
    let wal = std::fs::metadata(format!("{}-wal", app.database().display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(wal, 0, "the WAL is truncated");
}

#[tokio::test]
async fn past_max_pending_rows_a_producers_insert_fails_with_outbox_full_until_rows_go_out() {
    let app = TestApp::spawn("").await;
    housekeeping::apply_pending_limit(&app.pool, Some(3))
        .await
        .expect("cap installed");
    for n in 0..3 {
        app.enqueue_pc(&format!("{n}-{n}.01_00"), json!({"a": n}))
            .await;
    }
    let db = app.database().display().to_string();
    let insert = "INSERT INTO outbox (mbox_pc, attributes) VALUES ('9-9.01_00', '{\"a\":1}');";

    let refused = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(insert)
        .output()
        .expect("sqlite3 runs");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("outbox full"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    app.drain().await;
    let accepted = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(insert)
        .output()
        .expect("sqlite3 runs");
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );

    housekeeping::apply_pending_limit(&app.pool, None)
        .await
        .expect("cap removed");
    for n in 0..5 {
        app.enqueue_pc(&format!("{n}-{n}.02_00"), json!({"a": n}))
            .await;
    }
    assert_eq!(
        app.count("pending").await,
        6,
        "without a cap nothing is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_reports_figures_that_match_the_database() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let app = TestApp::spawn(&format!(
        "[metrics]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n"
    ))
    .await;
    for n in 0..4 {
        app.enqueue_pc(&format!("{n}-{n}.01_00"), json!({"a": n}))
            .await;
    }
    app.insert_raw(Some("8-8.01_00"), None, r#"{"a":null}"#)
        .await;
    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "rows delivered", || async {
        app.count("delivered").await == 4
    })
    .await;
    app.wait_until(LONG, "the failed row", || async {
        app.count("failed").await == 1
    })
    .await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");

    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz answers");
    let page = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("body");
    app.stop_daemon(&mut daemon, LONG).await;

    assert_eq!(health.status().as_u16(), 200);
    let value = |name: &str| {
        page.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from:\n{page}"))
    };
    assert_eq!(value("profile_outbox_rows{state=\"delivered\"}"), 4.0);
    assert_eq!(value("profile_outbox_rows{state=\"failed\"}"), 1.0);
    assert_eq!(value("profile_outbox_rows_failed_total"), 1.0);
    assert_eq!(
        value("profile_outbox_requests_total{class=\"delivered\"}"),
        4.0
    );
    assert_eq!(value("profile_outbox_request_seconds_count"), 4.0);
    let used: i64 = sqlx::query_scalar("SELECT calls_in_window FROM daemon_state")
        .fetch_one(&app.pool)
        .await
        .expect("state");
    assert_eq!(value("profile_outbox_quota_calls_in_window"), used as f64);
    assert_eq!(
        value("profile_outbox_quota_left"),
        (1_000_000 - used) as f64
    );
    assert_eq!(value("profile_outbox_rows{state=\"pending\"}"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_the_log_even_at_debug_level_or_when_refused() {
    let token_file = tempfile::NamedTempFile::new().expect("token file");
    std::fs::write(token_file.path(), "tok-SECRET-4242\n").expect("token written");
    let app = TestApp::spawn(&format!(
        "[target]\ntoken_file = {:?}\n[log]\nlevel = \"debug\"\nformat = \"json\"\n",
        token_file.path().display().to_string()
    ))
    .await;
    app.target.require_token("another");
    app.enqueue_pc(PC, json!({"a": 1})).await;
    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "the token to be refused", || async {
        app.daemon_log().contains("refuses the token")
    })
    .await;
    app.stop_daemon(&mut daemon, LONG).await;

    let log = app.daemon_log();
    assert!(log.lines().count() > 5, "the debug log has content: {log}");
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every line is JSON"
    );
    assert!(!log.contains("SECRET"), "the token leaked into the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_units_umask_the_database_and_its_wal_and_shm_are_writable_by_the_group() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn("").await;
    let database = app.dir.path().join("state").join("outbox.db");
    let log = std::fs::File::create(app.log_path()).expect("log file");
    // As the unit starts it: UMask=0007.
    let mut daemon = std::process::Command::new("sh")
        .args(["-c", "umask 0007 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_profile-outbox"))
        .arg("--config")
        .arg(&app.config_path)
        .arg("run")
        .env("PROFILE_OUTBOX__DATABASE__PATH", &database)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");
    app.wait_until(LONG, "the daemon to start", || async {
        app.daemon_log().contains("delivering rows")
    })
    .await;

    let modes: Vec<(String, u32)> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let path = format!("{}{suffix}", database.display());
            let mode = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o777);
            (path, mode)
        })
        .collect();
    app.stop_daemon(&mut daemon, LONG).await;

    for (path, mode) in modes {
        assert_eq!(mode, 0o660, "{path} has mode {mode:o}");
    }
}
