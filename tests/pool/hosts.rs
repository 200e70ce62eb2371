//! A host's side of the pool: held grants, refunds riding on the next grant, the offline share
//! when the pool cannot be reached, and nothing at all before the pool ever accepted the host.

use super::server::{connect_url, pool_with_limit};
use profile_outbox::config::{PoolSettings, parse_pool_url};
use profile_outbox::quota::pool::{
    Drawn, PoolQuota, forget_view, read_view, render_metrics, render_pool, status,
};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

/// The host's outbox database, with the daemon's schema (the view reads its visible state).
async fn sqlite(dir: &tempfile::TempDir) -> SqlitePool {
    let path = dir.path().join("outbox.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    profile_outbox::db::migrate(&pool, &path).await.unwrap();
    pool
}

fn settings(url: &str, host: &str, offline_share: i64) -> PoolSettings {
    PoolSettings {
        url: parse_pool_url(url).unwrap(),
        host: host.to_owned(),
        offline_share,
        password_file: None,
    }
}

/// A server that takes connections and never answers, like a PostgreSQL stopped with SIGSTOP.
async fn hung_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (format!("postgres://outbox@127.0.0.1:{port}/quota"), task)
}

/// No server at all: a socket folder with nothing in it.
fn missing_server(dir: &tempfile::TempDir) -> String {
    format!(
        "postgres://outbox@localhost/quota?host={}",
        dir.path().display()
    )
}

#[tokio::test]
async fn a_host_that_never_reached_the_pool_sends_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _server) = hung_server().await;
    let quota = PoolQuota::open(&settings(&url, "store-a", 1_000), sqlite(&dir).await, 10)
        .await
        .unwrap();
    let reserved = quota.reserve(0, 10).await.unwrap();
    assert_eq!(reserved.calls, 0);
    assert_eq!(quota.pause(1).map(|(why, _)| why), Some("pool_unreachable"));
    assert_eq!(quota.usage(1).await.unwrap().left(), 0);
}

#[tokio::test]
async fn a_host_cut_off_from_the_pool_delivers_within_its_offline_share_only() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = sqlite(&dir).await;
    let (url, _admin) = pool_with_limit(1_000).await;
    let online = PoolQuota::open(&settings(&url, "store-a", 25), outbox.clone(), 5)
        .await
        .unwrap();
    assert_eq!(online.reserve(0, 5).await.unwrap().calls, 5);
    drop(online);
    // The same host restarted while the pool is gone.
    let nowhere = tempfile::tempdir().unwrap();
    let offline = PoolQuota::open(
        &settings(&missing_server(&nowhere), "store-a", 25),
        outbox,
        5,
    )
    .await
    .unwrap();
    let mut sent = 0;
    for step in 0..40 {
        let r = offline.reserve(step * 1_000, 10).await.unwrap();
        assert!(
            matches!(r.drawn, Drawn::Offline(_)) || r.calls == 0,
            "{r:?}"
        );
        sent += r.calls;
    }
    assert_eq!(sent, 25, "all of the share, and no more, in 24 hours");
    assert_eq!(
        offline.pause(40_000),
        None,
        "offline with a share is not a pause"
    );
    // A day later the share is there again.
    let later = offline.reserve(86_400_000 + 120_000, 10).await.unwrap();
    assert_eq!(later.calls, 10);
}

#[tokio::test]
async fn a_hung_pool_costs_a_round_at_most_two_seconds_then_the_offline_share() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = sqlite(&dir).await;
    let (url, _admin) = pool_with_limit(1_000).await;
    let online = PoolQuota::open(&settings(&url, "store-a", 8), outbox.clone(), 1)
        .await
        .unwrap();
    online.reserve(0, 1).await.unwrap();
    let (hung, _server) = hung_server().await;
    let offline = PoolQuota::open(&settings(&hung, "store-a", 8), outbox, 1)
        .await
        .unwrap();
    let r = offline.reserve(0, 20).await.unwrap();
    assert_eq!(r.calls, 8);
    assert!(matches!(r.drawn, Drawn::Offline(_)));
}

#[tokio::test]
async fn unused_calls_go_back_to_the_pool_with_the_next_grant() {
    let (url, mut admin) = pool_with_limit(100).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sqlite_a = sqlite(&dir_a).await;
    let a = PoolQuota::open(&settings(&url, "store-a", 0), sqlite_a.clone(), 1)
        .await
        .unwrap();
    let b = PoolQuota::open(&settings(&url, "store-b", 0), sqlite(&dir_b).await, 1)
        .await
        .unwrap();
    let taken = a.reserve(0, 100).await.unwrap();
    assert_eq!(taken.calls, 100);
    let mut conn = sqlite_a.acquire().await.unwrap();
    a.refund(&mut conn, taken, 60).await.unwrap();
    assert_eq!(
        b.reserve(0, 100).await.unwrap().calls,
        0,
        "a holds them still"
    );
    assert_eq!(status(&mut admin).await.unwrap().calls_in_window, 100);
    // Past the point where a hands out held calls: they ride back with a's next grant.
    let late = taken.send_by - 5_000;
    assert_eq!(a.reserve(late, 1).await.unwrap().calls, 1);
    assert_eq!(status(&mut admin).await.unwrap().calls_in_window, 41);
    assert_eq!(b.reserve(late, 100).await.unwrap().calls, 59);
}

#[tokio::test]
async fn a_host_draws_from_its_held_grant_without_asking_the_pool_again() {
    let (url, mut admin) = pool_with_limit(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let a = PoolQuota::open(&settings(&url, "store-a", 0), sqlite(&dir).await, 50)
        .await
        .unwrap();
    let mut drawn = 0;
    for step in 0..5 {
        drawn += a.reserve(step * 100, 10).await.unwrap().calls;
    }
    assert_eq!(drawn, 50);
    let shown = status(&mut admin).await.unwrap();
    assert_eq!(
        shown.calls_in_window, 50,
        "one grant of a second's worth served five rounds"
    );
}

#[tokio::test]
async fn hosts_drawing_and_giving_back_at_once_never_pass_what_the_pool_may_grant() {
    let (url, _admin) = pool_with_limit(2_000).await;
    let mut hosts = tokio::task::JoinSet::new();
    for h in 0..6i64 {
        let url = url.clone();
        hosts.spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let outbox = sqlite(&dir).await;
            let host = format!("store-{h}");
            let quota = PoolQuota::open(&settings(&url, &host, 50), outbox.clone(), 20)
                .await
                .unwrap();
            let mut sent = 0;
            for step in 0..60i64 {
                let now = step * 1_500;
                let r = quota.reserve(now, 1 + (step * (h + 3)) % 40).await.unwrap();
                let unused = (step + h) % 3 * r.calls / 4;
                sent += r.calls - unused;
                let mut conn = outbox.acquire().await.unwrap();
                quota.refund(&mut conn, r, unused).await.unwrap();
            }
            sent
        });
    }
    let sent: i64 = hosts.join_all().await.into_iter().sum();
    assert!(sent <= 2_000 - 6 * 50, "{sent} sent from grants");
    assert!(
        sent >= 1_500,
        "{sent}: refunds came back and were granted again"
    );
    let mut conn = connect_url(&url).await;
    let shown = status(&mut conn).await.unwrap();
    assert!(shown.calls_in_window <= 1_700);
}

#[tokio::test]
async fn an_idle_host_gives_back_what_it_holds_a_second_after_its_last_grant() {
    let (url, _admin) = pool_with_limit(50).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = PoolQuota::open(&settings(&url, "store-a", 0), sqlite(&dir_a).await, 50)
        .await
        .unwrap();
    let b = PoolQuota::open(&settings(&url, "store-b", 0), sqlite(&dir_b).await, 1)
        .await
        .unwrap();
    assert_eq!(a.reserve(0, 1).await.unwrap().calls, 1);
    assert_eq!(b.reserve(0, 100).await.unwrap().calls, 0, "a holds 49");
    a.settle_when_idle(500).await;
    assert_eq!(
        b.reserve(2_000, 100).await.unwrap().calls,
        0,
        "too soon to give back"
    );
    a.settle_when_idle(1_500).await;
    assert_eq!(b.reserve(4_000, 100).await.unwrap().calls, 49);
}

#[tokio::test]
async fn the_view_for_status_shows_reachable_held_and_the_offline_share_left() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = sqlite(&dir).await;
    let (url, _admin) = pool_with_limit(1_000).await;
    let online = PoolQuota::open(&settings(&url, "store-a", 25), outbox.clone(), 50)
        .await
        .unwrap();
    assert_eq!(
        read_view(&outbox).await.unwrap(),
        None,
        "nothing before the first try"
    );
    assert_eq!(online.reserve(1_000, 10).await.unwrap().calls, 10);
    let shown = read_view(&outbox).await.unwrap().unwrap();
    assert_eq!(
        (
            shown.reachable,
            shown.since_ms,
            shown.held,
            shown.last_contact_ms
        ),
        (Some(true), 1_000, 40, Some(1_000))
    );
    assert_eq!(
        (shown.offline_share, shown.offline_left()),
        (Some(25), Some(25))
    );
    assert!(!shown.pool.contains("postgres://"), "{}", shown.pool);
    // Half a second later the held calls changed, but the view is saved at most every second.
    online.reserve(1_500, 10).await.unwrap();
    assert_eq!(read_view(&outbox).await.unwrap().unwrap().held, 40);
    online.reserve(2_100, 10).await.unwrap();
    assert_eq!(read_view(&outbox).await.unwrap().unwrap().held, 20);
    drop(online);

    // The same host restarted while the pool cannot be reached spends its offline share.
    let nowhere = tempfile::tempdir().unwrap();
    let cut = PoolQuota::open(
        &settings(&missing_server(&nowhere), "store-a", 25),
        outbox.clone(),
        5,
    )
    .await
    .unwrap();
    assert_eq!(cut.reserve(5_000, 10).await.unwrap().calls, 10);
    let shown = read_view(&outbox).await.unwrap().unwrap();
    assert_eq!(shown.reachable, Some(false));
    assert_eq!(shown.since_ms, 5_000);
    assert_eq!(
        shown.last_contact_ms,
        Some(1_000),
        "the last contact outlives a restart"
    );
    assert_eq!((shown.offline_used, shown.offline_left()), (10, Some(15)));
    assert!(shown.error.is_some());
    let text = render_pool(&shown, 6_000).join("\n");
    assert!(
        text.contains("UNREACHABLE since") && text.contains("15 left"),
        "{text}"
    );
    let mut metrics = String::new();
    render_metrics(&outbox, &mut metrics).await.unwrap();
    assert!(
        metrics.contains("profile_outbox_pool_reachable 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("profile_outbox_pool_offline_left_calls 15\n"),
        "{metrics}"
    );

    // A host whose config no longer names a pool shows none, from the daemon's start.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let no_pool = profile_outbox::config::load(Some(&config), Some(Default::default())).unwrap();
    let opened = profile_outbox::quota::pool::open_for_delivery(&no_pool, &outbox)
        .await
        .unwrap();
    assert!(opened.is_none());
    assert_eq!(read_view(&outbox).await.unwrap(), None);
    forget_view(&outbox).await.unwrap();
    let mut metrics = String::new();
    render_metrics(&outbox, &mut metrics).await.unwrap();
    assert!(metrics.is_empty(), "{metrics}");
}

#[tokio::test]
async fn a_host_that_goes_idle_tells_the_pool_once_and_then_asks_nothing() {
    let (url, mut admin) = pool_with_limit(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let a = PoolQuota::open(&settings(&url, "store-a", 0), sqlite(&dir).await, 10)
        .await
        .unwrap();
    // It uses all it was granted: nothing to give back, yet the pool must learn it is idle.
    assert_eq!(a.reserve(0, 10).await.unwrap().calls, 10);
    let busy = |s: &profile_outbox::quota::pool::PoolStatus| s.hosts[0].busy;
    assert!(busy(&status(&mut admin).await.unwrap()));
    a.settle_when_idle(1_500).await;
    assert!(!busy(&status(&mut admin).await.unwrap()));
    let contact: i64 = sqlx::query_scalar(
        "SELECT floor(extract(epoch FROM last_contact) * 1000)::bigint FROM quota_pool_hosts",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    a.settle_when_idle(5_000).await;
    let later: i64 = sqlx::query_scalar(
        "SELECT floor(extract(epoch FROM last_contact) * 1000)::bigint FROM quota_pool_hosts",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(contact, later, "no round trip while idle");
}

#[tokio::test]
async fn a_host_back_from_a_pool_outage_reports_what_it_spent_offline_and_for_how_long() {
    let server = super::server::own_server();
    let url = super::server::fresh_database_on(&server).await;
    let mut admin = connect_url(&url).await;
    profile_outbox::quota::pool::init(&mut admin, 1_000)
        .await
        .unwrap();
    drop(admin);
    let dir = tempfile::tempdir().unwrap();
    let a = PoolQuota::open(&settings(&url, "store-a", 25), sqlite(&dir).await, 5)
        .await
        .unwrap();
    assert_eq!(a.reserve(0, 5).await.unwrap().calls, 5);
    server.stop();
    let offline = a.reserve(3_000, 10).await.unwrap();
    assert!(matches!(offline.drawn, Drawn::Offline(_)), "{offline:?}");
    server.launch().unwrap();
    // Asked again once the retry time is over: 7 seconds after the first failure.
    let back = a.reserve(10_000, 1).await.unwrap();
    assert!(matches!(back.drawn, Drawn::Pool { .. }), "{back:?}");
    let mut admin = connect_url(&url).await;
    let host = status(&mut admin).await.unwrap().hosts.remove(0);
    let span = host.last_offline.unwrap();
    assert!((6..=9).contains(&span.began_secs_ago), "{span:?}");
    assert_eq!(host.offline_calls, 10);
    server.stop();
}
