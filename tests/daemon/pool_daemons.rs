//! Several `profile-outbox run` processes sharing one quota pool on a PostgreSQL server of the
//! test's own, under skewed load, with faults: a daemon killed, the server crashed and restarted,
//! the server hung (SIGSTOP) mid-drain, hosts' wall clocks wrong by hours, a host cut off from the
//! pool while it reaches Target. The checker reads the fake Target's log of received requests,
//! with the time each arrived: no rolling 24 hours of it holds more than the pool's limit. A test
//! lasts minutes, so every such window holds the whole log; the rolling part, capacity coming
//! back as calls age past 24 hours, is proved on the database's clock in `tests/pool/grants.rs`
//! (`granted_calls_come_back_as_they_age_past_24_hours_on_the_databases_clock`) and on the
//! host's timeline for the offline share in `tests/pool/hosts.rs`.

#[path = "../pool/server.rs"]
#[allow(dead_code)]
mod pg_server;

use crate::fake_target::Received;
use crate::helpers::{Daemon, TestApp, terminate, wait_exit};
use serde_json::json;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LONG: Duration = Duration::from_secs(30);
const LIMIT: i64 = 100;
const SHARE: i64 = 10;

async fn store(url: &str, host: &str, rows: usize) -> TestApp {
    let extra = format!(
        "[quota]\nmax_per_second = 20\nburst = 5\n\n\
         [quota.pool]\nurl = \"{url}\"\nhost = \"{host}\"\noffline_share = {SHARE}\n"
    );
    let app = TestApp::spawn(&extra).await;
    for i in 0..rows {
        let visitor = format!("{}{i:05}-{i}.01_00", host.len());
        app.enqueue_pc(&visitor, json!({"store": host})).await;
    }
    app
}

fn received(stores: &[&TestApp]) -> i64 {
    stores
        .iter()
        .map(|s| i64::try_from(s.target.received().len()).unwrap_or(i64::MAX))
        .sum()
}

async fn settle(stores: &[&TestApp], expected: i64, what: &str) {
    stores[0]
        .wait_until(LONG, what, || async { received(stores) >= expected })
        .await;
    // Whatever else would come, comes now.
    tokio::time::sleep(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_sharing_a_pool_never_pass_its_limit_whatever_fails() {
    let server = pg_server::own_server();
    let (url, admin) = pg_server::pool_with_limit_on(&server, LIMIT).await;
    drop(admin);
    let busy = store(&url, "busy", 300).await;
    let quiet_a = store(&url, "quiet-a", 60).await;
    let quiet_b = store(&url, "quiet-b", 60).await;
    let all = [&busy, &quiet_a, &quiet_b];
    let mut daemons: Vec<_> = all.iter().map(|s| s.spawn_daemon()).collect();

    // Online: everything the pool may grant is used, offline shares excepted.
    settle(&all, LIMIT - 3 * SHARE, "the shareable limit used").await;
    assert_eq!(
        received(&all),
        LIMIT - 3 * SHARE,
        "grants only, shares kept"
    );

    // The busy store dies holding calls; the pool's server crashes.
    daemons[0].kill().unwrap();
    let _ = daemons[0].wait();
    server.stop();
    // The quiet stores still have rows: each spends its offline share, no more.
    settle(&all, LIMIT - SHARE, "the offline shares spent").await;
    assert_eq!(received(&all), LIMIT - SHARE);

    // The server comes back and the busy store restarts: the window is full.
    server.launch().unwrap();
    daemons[0] = busy.spawn_daemon();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(received(&all), LIMIT - SHARE, "nothing past the limit");
    assert!(busy.count("pending").await > 0);
    for (store, daemon) in all.iter().zip(daemons.iter_mut()) {
        terminate(daemon);
        let status = wait_exit(daemon, LONG).await;
        assert!(status.success(), "{}", store.daemon_log());
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_never_reached_its_pool_sends_nothing_and_says_why() {
    let nowhere = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://outbox@localhost/quota?host={}",
        nowhere.path().display()
    );
    let app = store(&url, "lonely", 5).await;
    let mut daemon = app.spawn_daemon();
    app.wait_until(LONG, "the pause reason", || async {
        let reason: Option<Option<String>> =
            sqlx::query_scalar("SELECT pause_reason FROM daemon_state WHERE id = 1")
                .fetch_optional(&app.pool)
                .await
                .unwrap();
        reason.flatten().as_deref() == Some("pool_unreachable")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(app.target.received().is_empty());
    assert_eq!(app.count("pending").await, 5);
    assert!(
        app.daemon_log().contains("never accepted into it"),
        "{}",
        app.daemon_log()
    );
    terminate(&daemon);
    assert!(wait_exit(&mut daemon, LONG).await.success());
}

const HOUR_MS: i64 = 3_600_000;
const DAY: Duration = Duration::from_secs(86_400);

/// The most requests received in any `window` of the log: its arrival times, sorted, scanned
/// with two ends.
fn most_in_any_window(received: &[Received], window: Duration) -> usize {
    let mut times: Vec<Instant> = received.iter().map(|r| r.at).collect();
    times.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

#[test]
fn the_window_check_counts_the_busiest_window_not_the_total() {
    let start = Instant::now();
    let at = |ms: u64| Received {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        body: String::new(),
        content_type: None,
        authorization: None,
        acknowledged: true,
        at: start + Duration::from_millis(ms),
    };
    let log: Vec<Received> = [0, 10, 20, 5_000, 5_001, 5_002, 5_003, 9_000]
        .into_iter()
        .map(at)
        .collect();
    assert_eq!(most_in_any_window(&log, Duration::from_millis(100)), 4);
    assert_eq!(most_in_any_window(&log, Duration::from_millis(5_000)), 6);
    assert_eq!(most_in_any_window(&log, DAY), 8);
}

/// Requests received from `host` (each row carries its store's name).
fn from(received: &[Received], host: &str) -> usize {
    received
        .iter()
        .filter(|r| r.param("profile.store").as_deref() == Some(host))
        .count()
}

/// A store delivering to `target` (another store's fake Target: one log for all).
async fn store_to(url: &str, host: &str, rows: usize, target: &str, extra: &str) -> TestApp {
    let app = store(url, host, rows).await;
    let text = std::fs::read_to_string(&app.config_path).unwrap();
    let text = text.replace(&app.target.base_url(), target) + extra;
    std::fs::write(&app.config_path, text).unwrap();
    app
}

/// `run` with this process's wall clock `offset_ms` off the host's (the test seam of
/// `clock::WALL_OFFSET_ENV`).
fn spawn_with_wall_offset(app: &TestApp, offset_ms: i64) -> Daemon {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(app.log_path())
        .unwrap();
    app.command(&["run"])
        .env(
            profile_outbox::clock::WALL_OFFSET_ENV,
            offset_ms.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Daemon)
        .unwrap()
}

/// The wall clock the daemon saved at start, less the real one.
async fn saved_wall_offset(app: &TestApp, daemon: &Child) -> i64 {
    app.wait_until(LONG, "the daemon's state", || async {
        let pid: Option<Option<i64>> =
            sqlx::query_scalar("SELECT pid FROM daemon_state WHERE id = 1")
                .fetch_optional(&app.pool)
                .await
                .unwrap();
        pid.flatten() == Some(i64::from(daemon.id()))
    })
    .await;
    let saved: i64 = sqlx::query_scalar("SELECT started_at FROM daemon_state WHERE id = 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    saved - real
}

/// `status --json` of `app`.
fn status_doc(app: &TestApp) -> serde_json::Value {
    let output = app.command(&["status", "--json"]).output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_default()
}

/// `/metrics` of a daemon listening on `port`, or nothing when it does not answer.
async fn metrics(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let _ = stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text).await;
    text
}

/// Waits until the log has not grown for `quiet`.
async fn settled(app: &TestApp, quiet: Duration) -> Vec<Received> {
    let started = Instant::now();
    let mut last = (app.target.received().len(), Instant::now());
    loop {
        assert!(
            started.elapsed() < 2 * LONG,
            "the log never stopped growing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = app.target.received().len();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return app.target.received();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_sharing_a_pool_stay_under_it_with_a_hung_server_wrong_clocks_and_a_host_cut_off() {
    const LIMIT: i64 = 120;
    let server = pg_server::own_server();
    let (url, admin) = pg_server::pool_with_limit_on(&server, LIMIT).await;
    drop(admin);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let busy = store(&url, "busy", 400).await;
    let target = busy.target.base_url();
    let metrics_on = format!("\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n");
    std::fs::write(
        &busy.config_path,
        std::fs::read_to_string(&busy.config_path).unwrap() + &metrics_on,
    )
    .unwrap();
    let quiet = store_to(&url, "quiet", 60, &target, "").await;
    let cut = store_to(&url, "cut-off", 200, &target, "").await;

    // Wall clocks five hours ahead and seven behind; the pool books on the database's clock.
    let mut busy_daemon = spawn_with_wall_offset(&busy, 5 * HOUR_MS);
    let mut quiet_daemon = spawn_with_wall_offset(&quiet, -7 * HOUR_MS);
    let mut cut_daemon = cut.spawn_daemon();
    let offset = saved_wall_offset(&busy, &busy_daemon).await;
    assert!(
        (offset - 5 * HOUR_MS).abs() < 60_000,
        "the seam moved the clock: {offset}"
    );
    let offset = saved_wall_offset(&quiet, &quiet_daemon).await;
    assert!(
        (offset + 7 * HOUR_MS).abs() < 60_000,
        "the seam moved the clock: {offset}"
    );

    // The cut-off store is killed while it has work, and comes back with a wrong port for the
    // pool while it still reaches Target.
    busy.wait_until(LONG, "the cut-off store delivering", || async {
        from(&busy.target.received(), "cut-off") >= 5
    })
    .await;
    cut_daemon.kill().unwrap();
    let _ = cut_daemon.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cut_before = from(&busy.target.received(), "cut-off");
    let config = std::fs::read_to_string(&cut.config_path).unwrap();
    let wrong_port = "postgres://postgres@127.0.0.1:1/quota";
    std::fs::write(&cut.config_path, config.replace(&url, wrong_port)).unwrap();
    cut_daemon = cut.spawn_daemon();

    // PostgreSQL hangs mid-drain: every process of it stopped, connections left unanswered.
    busy.wait_until(LONG, "the drain under way", || async {
        busy.target.received().len() >= 40
    })
    .await;
    let hung = server.hang();
    let hung_at = Instant::now();
    busy.wait_until(LONG, "status showing the pool unreachable", || async {
        status_doc(&busy)["pool"]["reachable"] == json!(false)
    })
    .await;
    let doc = status_doc(&busy);
    assert_eq!(doc["pool"]["host"], "busy", "{doc}");
    assert!(
        doc["pool"]["offline_left"]
            .as_i64()
            .is_some_and(|l| l <= SHARE),
        "{doc}"
    );
    let shown = metrics(port).await;
    assert!(
        shown.contains("profile_outbox_pool_reachable 0\n"),
        "{shown}"
    );
    assert!(
        shown.contains("profile_outbox_pool_offline_share_calls 10\n"),
        "{shown}"
    );
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(hung_at.elapsed())).await;
    assert!(
        busy.target.received().len() as i64 <= LIMIT,
        "over the limit while the pool hung"
    );
    drop(hung);

    // The server goes on; the hosts reach it again and the drain goes on until the pool's limit.
    busy.wait_until(LONG, "status showing the pool reachable again", || async {
        status_doc(&busy)["pool"]["reachable"] == json!(true)
    })
    .await;
    let received = settled(&busy, Duration::from_secs(5)).await;

    // The checker: no rolling 24 hours of what Target received holds more than the limit.
    let most = most_in_any_window(&received, DAY);
    assert!(
        most as i64 <= LIMIT,
        "{most} requests in 24 hours (limit {LIMIT})"
    );
    // The host cut off from the pool spent exactly its offline share, and said so plainly.
    assert_eq!(from(&received, "cut-off"), cut_before + SHARE as usize);
    let log = cut.daemon_log();
    assert!(
        log.contains(
            "quota pool at 127.0.0.1:1/quota unreachable: this host's offline share is spent"
        ),
        "{log}"
    );
    assert!(!log.contains("quota spent:"), "{log}");
    assert!(!log.contains("postgres://"), "{log}");
    // The hung pool left offline calls spent by the stores that had work.
    let offline: i64 = sqlx::query_scalar("SELECT coalesce(sum(calls), 0) FROM quota_pool_offline")
        .fetch_one(&busy.pool)
        .await
        .unwrap();
    assert!(
        (1..=SHARE).contains(&offline),
        "busy spent {offline} offline"
    );

    // `pool status`: the stores back from the outage left their offline span and calls; the
    // one still cut off is shown offline once silent past the grant interval.
    let pool_status = || async {
        let output = busy
            .command(&["pool", "status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap_or_default()
    };
    let host = |doc: &serde_json::Value, name: &str| {
        doc["hosts"]
            .as_array()
            .and_then(|hosts| hosts.iter().find(|h| h["host"] == name).cloned())
            .unwrap_or_default()
    };
    let doc = pool_status().await;
    let busy_row = host(&doc, "busy");
    assert!(busy_row["last_offline"].is_object(), "{doc}");
    assert!(
        busy_row["offline_calls"].as_i64().is_some_and(|c| c >= 1),
        "{doc}"
    );
    busy.wait_until(LONG, "the cut-off store shown offline", || async {
        host(&pool_status().await, "cut-off")["offline"] == json!(true)
    })
    .await;
    let text = String::from_utf8_lossy(&busy.command(&["pool", "status"]).output().unwrap().stdout)
        .into_owned();
    assert!(text.contains("OFFLINE"), "{text}");

    for (store, daemon) in [
        (&busy, &mut busy_daemon),
        (&quiet, &mut quiet_daemon),
        (&cut, &mut cut_daemon),
    ] {
        terminate(daemon);
        let status = wait_exit(daemon, LONG).await;
        assert!(status.success(), "{}", store.daemon_log());
    }
    server.stop();
}
