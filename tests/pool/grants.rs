//! Grants, refunds and the admin changes, at the level of the pool's transactions.

use super::server::{connect_url, pool_with_limit};
use profile_outbox::quota::BUCKET_MS;
use profile_outbox::quota::pool::{
    GrantRequest, OfflineReport, PoolError, grant, remove, set_limit, status,
};
use sqlx::postgres::PgConnection;

fn ask<'a>(host: &'a str, wanted: i64, offline_share: i64) -> GrantRequest<'a> {
    GrantRequest::new(host, wanted, offline_share)
}

async fn granted(conn: &mut PgConnection, host: &str, wanted: i64) -> i64 {
    grant(conn, &ask(host, wanted, 0)).await.unwrap().calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grants_never_add_up_past_the_limit_across_concurrent_hosts() {
    let (url, _admin) = pool_with_limit(5_000).await;
    let mut hosts = tokio::task::JoinSet::new();
    for h in 0..8i64 {
        let url = url.clone();
        hosts.spawn(async move {
            let mut conn = connect_url(&url).await;
            let host = format!("store-{h}");
            let (mut total, mut refused) = (0, 0);
            while refused < 3 {
                let calls = granted(&mut conn, &host, 1 + (h * 7 + total) % 97).await;
                total += calls;
                refused += i64::from(calls == 0);
            }
            total
        });
    }
    let total: i64 = hosts.join_all().await.into_iter().sum();
    assert_eq!(total, 5_000, "every call granted once, none past the limit");
}

#[tokio::test]
async fn offline_shares_are_kept_out_of_what_the_pool_grants() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    grant(&mut conn, &ask("store-a", 0, 300)).await.unwrap();
    grant(&mut conn, &ask("store-b", 0, 200)).await.unwrap();
    assert_eq!(granted(&mut conn, "store-c", 10_000).await, 500);
    let shown = status(&mut conn).await.unwrap();
    assert_eq!(
        (shown.limit, shown.calls_in_window, shown.offline_shares),
        (1_000, 500, 500)
    );
    assert_eq!(shown.free, 0);
    assert_eq!(shown.hosts.len(), 3);
}

#[tokio::test]
async fn a_share_that_does_not_fit_is_refused_and_a_share_never_shrinks() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    assert_eq!(granted(&mut conn, "store-a", 900).await, 900);
    let refused = grant(&mut conn, &ask("store-b", 0, 200)).await;
    assert!(
        matches!(refused, Err(PoolError::ShareDoesNotFit { free: 100, .. })),
        "{refused:?}"
    );
    let joined = grant(&mut conn, &ask("store-b", 0, 100)).await.unwrap();
    assert_eq!(joined.accepted_share, 100);
    let smaller = grant(&mut conn, &ask("store-b", 0, 10)).await.unwrap();
    assert_eq!(
        smaller.accepted_share, 100,
        "it may have spent 100 offline today"
    );
}

#[tokio::test]
async fn refunds_return_capacity_to_the_pool() {
    let (_url, mut conn) = pool_with_limit(100).await;
    let first = grant(&mut conn, &ask("store-a", 100, 0)).await.unwrap();
    assert_eq!(first.calls, 100);
    assert_eq!(granted(&mut conn, "store-b", 10).await, 0);
    let refunds = [(first.bucket, 40)];
    let request = GrantRequest {
        refunds: &refunds,
        ..ask("store-a", 0, 0)
    };
    grant(&mut conn, &request).await.unwrap();
    assert_eq!(granted(&mut conn, "store-b", 100).await, 40);
}

#[tokio::test]
async fn a_refund_never_gives_back_more_than_was_granted_to_that_host() {
    let (_url, mut conn) = pool_with_limit(100).await;
    let a = grant(&mut conn, &ask("store-a", 30, 0)).await.unwrap();
    assert_eq!(granted(&mut conn, "store-b", 70).await, 70);
    let refunds = [(a.bucket, 1_000)];
    let request = GrantRequest {
        refunds: &refunds,
        ..ask("store-a", 0, 0)
    };
    grant(&mut conn, &request).await.unwrap();
    assert_eq!(granted(&mut conn, "store-c", 1_000).await, 30);
}

#[tokio::test]
async fn a_lower_limit_stops_grants_and_cannot_go_below_the_shares() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    grant(&mut conn, &ask("store-a", 0, 100)).await.unwrap();
    assert_eq!(granted(&mut conn, "store-b", 600).await, 600);
    set_limit(&mut conn, 700).await.unwrap();
    assert_eq!(granted(&mut conn, "store-b", 10).await, 0);
    let below = set_limit(&mut conn, 99).await;
    assert!(matches!(
        below,
        Err(PoolError::LimitBelowShares {
            limit: 99,
            shares: 100
        })
    ));
    set_limit(&mut conn, 800).await.unwrap();
    assert_eq!(granted(&mut conn, "store-b", 1_000).await, 100);
}

#[tokio::test]
async fn removing_a_host_releases_its_share_but_not_its_calls() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    grant(&mut conn, &ask("store-a", 50, 300)).await.unwrap();
    assert_eq!(granted(&mut conn, "store-b", 10_000).await, 650);
    assert!(remove(&mut conn, "store-a").await.unwrap());
    assert!(!remove(&mut conn, "store-a").await.unwrap());
    assert_eq!(granted(&mut conn, "store-b", 10_000).await, 300);
}

#[tokio::test]
async fn an_uninitialised_pool_says_so() {
    let url = super::server::fresh_database().await;
    let mut conn = connect_url(&url).await;
    let refused = grant(&mut conn, &ask("store-a", 1, 0)).await;
    assert!(
        matches!(refused, Err(PoolError::NotInitialised)),
        "{refused:?}"
    );
    assert!(matches!(
        status(&mut conn).await,
        Err(PoolError::NotInitialised)
    ));
    profile_outbox::quota::pool::init(&mut conn, 10)
        .await
        .unwrap();
    let again = profile_outbox::quota::pool::init(&mut conn, 20).await;
    assert!(matches!(
        again,
        Err(PoolError::AlreadyInitialised { limit: 10 })
    ));
}

#[tokio::test]
async fn the_grant_deadline_is_never_later_than_the_databases() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    let clock = "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
    for _ in 0..20 {
        let before: i64 = sqlx::query_scalar(clock)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let g = grant(&mut conn, &ask("store-a", 1, 0)).await.unwrap();
        let after: i64 = sqlx::query_scalar(clock)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let send_by = (g.bucket + 1) * BUCKET_MS;
        // A host that started its clock no later than `before` ends at or before send_by.
        assert!(
            before + g.remaining_ms <= send_by,
            "{before} + {} > {send_by}",
            g.remaining_ms
        );
        // And the bucket is no earlier than the minute of any moment the calls may go out.
        assert!(g.bucket * BUCKET_MS <= after + BUCKET_MS);
        assert!(g.remaining_ms >= BUCKET_MS, "at least a minute to send");
    }
}

/// The database's minute now (the pool ledger's buckets are minutes of its clock).
async fn database_minute(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT floor(extract(epoch FROM clock_timestamp()) / 60)::bigint")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Moves `host`'s granted calls to `minute`, as if they had been granted then.
async fn age_grants(conn: &mut PgConnection, host: &str, minute: i64) {
    sqlx::query("UPDATE quota_pool_ledger SET bucket = $2 WHERE host = $1")
        .bind(host)
        .bind(minute)
        .execute(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn granted_calls_come_back_as_they_age_past_24_hours_on_the_databases_clock() {
    let (_url, mut conn) = pool_with_limit(100).await;
    assert_eq!(granted(&mut conn, "store-a", 60).await, 60);
    assert_eq!(granted(&mut conn, "store-b", 100).await, 40);
    // Booked 23 h 59 min ago (a minute's slack for the clock moving on): still in the window.
    let now = database_minute(&mut conn).await;
    age_grants(&mut conn, "store-a", now - 1_439).await;
    assert_eq!(granted(&mut conn, "store-c", 100).await, 0, "still counted");
    // Booked 24 h 2 min ago: out of the window, so its 60 calls can be granted again, and only
    // those, since store-b's 40 are recent.
    age_grants(&mut conn, "store-a", now - 1_442).await;
    assert_eq!(granted(&mut conn, "store-c", 100).await, 60);
    assert_eq!(granted(&mut conn, "store-a", 100).await, 0);
    let shown = status(&mut conn).await.unwrap();
    assert_eq!(shown.calls_in_window, 100);
}

/// Sets `host`'s last contact `secs` seconds back, as if it had been silent that long.
async fn silent_for(conn: &mut PgConnection, host: &str, secs: i64) {
    sqlx::query(
        "UPDATE quota_pool_hosts SET last_contact = clock_timestamp() - make_interval(secs => $2)
         WHERE host = $1",
    )
    .bind(host)
    .bind(secs as f64)
    .execute(conn)
    .await
    .unwrap();
}

async fn host_status(
    conn: &mut PgConnection,
    host: &str,
) -> profile_outbox::quota::pool::HostStatus {
    let shown = status(conn).await.unwrap();
    shown.hosts.into_iter().find(|h| h.host == host).unwrap()
}

#[tokio::test]
async fn a_busy_host_silent_past_the_grant_interval_shows_offline_and_an_idle_one_does_not() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    granted(&mut conn, "store-a", 10).await;
    let fresh = host_status(&mut conn, "store-a").await;
    assert!(fresh.busy && !fresh.offline, "{fresh:?}");
    silent_for(&mut conn, "store-a", 60).await;
    let silent = host_status(&mut conn, "store-a").await;
    assert!(silent.offline, "busy and silent for a minute: {silent:?}");
    // The same host tells the pool it has gone idle: silence is then no sign of anything.
    granted(&mut conn, "store-a", 0).await;
    silent_for(&mut conn, "store-a", 3_600).await;
    let idle = host_status(&mut conn, "store-a").await;
    assert!(!idle.busy && !idle.offline, "{idle:?}");
}

#[tokio::test]
async fn a_host_back_from_offline_leaves_its_span_and_offline_calls_in_the_pool() {
    let (_url, mut conn) = pool_with_limit(1_000).await;
    granted(&mut conn, "store-a", 10).await;
    assert_eq!(host_status(&mut conn, "store-a").await.last_offline, None);
    let request = GrantRequest {
        offline: Some(OfflineReport {
            for_ms: Some(90_000),
            calls: 7,
        }),
        ..ask("store-a", 10, 0)
    };
    grant(&mut conn, &request).await.unwrap();
    let back = host_status(&mut conn, "store-a").await;
    let span = back.last_offline.clone().unwrap();
    assert!((89..=92).contains(&span.began_secs_ago), "{span:?}");
    assert!((0..=2).contains(&span.ended_secs_ago), "{span:?}");
    assert_eq!(back.offline_calls, 7);
    assert!(!back.offline);
    // A report without a span (a restarted host) updates the calls and keeps the last span.
    let restarted = GrantRequest {
        offline: Some(OfflineReport {
            for_ms: None,
            calls: 3,
        }),
        ..ask("store-a", 10, 0)
    };
    grant(&mut conn, &restarted).await.unwrap();
    let again = host_status(&mut conn, "store-a").await;
    assert_eq!((again.offline_calls, again.last_offline), (3, Some(span)));
}
