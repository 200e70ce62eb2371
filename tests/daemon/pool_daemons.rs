//! Several `profile-outbox run` processes sharing one quota pool on a PostgreSQL server of the
//! test's own, under skewed load, with a daemon killed and the server crashed and restarted: the
//! calls received by Target, all hosts together, never pass the pool's limit.

#[path = "../pool/server.rs"]
#[allow(dead_code)]
mod pg_server;

use crate::helpers::{TestApp, terminate, wait_exit};
use serde_json::json;
use std::time::Duration;

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
    let url = pg_server::fresh_database_on(&server).await;
    let mut admin = pg_server::connect_url(&url).await;
    profile_outbox::quota::pool::init(&mut admin, LIMIT)
        .await
        .unwrap();
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
