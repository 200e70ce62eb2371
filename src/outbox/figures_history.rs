//! The kept counts against the table itself: a seeded history of everything that adds, changes or
//! deletes outbox rows, through the code that does it in the daemon and the admin commands (and a
//! producer's plain SQL), after which the counts migration 0007's triggers keep must equal a full
//! `count(*) … GROUP BY state`, and the schedule must equal the same figures read by scanning.

use super::figures::{self, Counts};
use super::{Decision, RowResult};
use crate::admin::{self, Change, OrderGuard, PurgeScope, RowFilter};
use crate::delivery::NO_PROFILE;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::SqlitePool;
use std::time::Duration;

/// Steps per history.
const STEPS: usize = 400;
const START_MS: i64 = 1_800_000_000_000;

/// The figures read by scanning the table, with no index and no kept count.
async fn scanned(pool: &SqlitePool, now: i64) -> (Counts, figures::Schedule, Option<(i64, i64)>) {
    let rows: Vec<(String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT state, next_attempt_at, last_status, last_error FROM outbox NOT INDEXED",
    )
    .fetch_all(pool)
    .await
    .expect("scanned");
    let mut counts = Counts::default();
    let mut due_now = 0;
    let mut next_retry: Option<i64> = None;
    for (state, at, status, error) in &rows {
        match state.as_str() {
            "pending" => {
                counts.pending += 1;
                if *at <= now {
                    due_now += 1;
                } else {
                    next_retry = Some(next_retry.map_or(*at, |n| n.min(*at)));
                }
            }
            "in_flight" => counts.in_flight += 1,
            "delivered" => counts.delivered += 1,
            "failed" => {
                counts.failed += 1;
                let no_profile = *status == Some(404)
                    && error.as_deref().is_some_and(|e| e.starts_with(NO_PROFILE));
                counts.failed_no_profile += i64::from(no_profile);
            }
            "cancelled" => counts.cancelled += 1,
            other => panic!("unknown state {other}"),
        }
    }
    let first = |states: &'static str| {
        let sql = format!(
            "SELECT id, created_at FROM outbox NOT INDEXED WHERE state IN ({states}) ORDER BY id LIMIT 1"
        );
        async move {
            sqlx::query_as::<_, (i64, i64)>(&sql)
                .fetch_optional(pool)
                .await
                .expect("oldest")
        }
    };
    let schedule = figures::Schedule {
        oldest: first("'pending'").await,
        due_now,
        next_retry,
    };
    (counts, schedule, first("'pending', 'in_flight'").await)
}

/// The figures as `status` and `/metrics` read them.
async fn kept(pool: &SqlitePool, now: i64) -> (Counts, figures::Schedule, Option<(i64, i64)>) {
    let mut conn = pool.acquire().await.expect("connection");
    let counts = figures::counts(&mut conn).await.expect("counts");
    let schedule = figures::schedule(&mut conn, counts.pending, now)
        .await
        .expect("schedule");
    let oldest = figures::oldest_waiting(&mut conn).await.expect("oldest");
    (counts, schedule, oldest)
}

/// One random step of the daemon, a producer or an operator. Returns its name.
async fn step(pool: &SqlitePool, rng: &mut StdRng, now: i64) -> &'static str {
    match rng.random_range(0..100) {
        0..=29 => {
            // A producer: plain SQL. Now and then a row a producer should not write but may: one
            // due before 0, or one already failed for want of a profile.
            let visitor = rng.random_range(0..20);
            let (state, at, status, error) = match rng.random_range(0..20) {
                0 => ("pending", -5, None, None),
                1 => (
                    "failed",
                    0,
                    Some(404),
                    Some(format!("{NO_PROFILE}; imported")),
                ),
                _ => ("pending", 0, None, None),
            };
            sqlx::query(
                "INSERT INTO outbox (mbox_pc, attributes, state, next_attempt_at, last_status, last_error)
                 VALUES (?1, '{\"a\":1}', ?2, ?3, ?4, ?5)",
            )
            .bind(format!("{visitor}-{visitor}.01_00"))
            .bind(state)
            .bind(at)
            .bind(status)
            .bind(error)
            .execute(pool)
            .await
            .expect("inserted");
            "insert"
        }
        30..=49 => {
            let limit = rng.random_range(1..=8);
            super::claim(pool, now, limit, 4).await.expect("claimed");
            "claim"
        }
        50..=69 => {
            record_some(pool, rng, now).await;
            "record"
        }
        70..=74 => {
            super::release_in_flight(pool, now).await.expect("released");
            "crash recovery"
        }
        75..=81 => {
            change(pool, rng, Change::Retry, now).await;
            "retry"
        }
        82..=87 => {
            change(pool, rng, Change::Cancel, now).await;
            "cancel"
        }
        88..=92 => {
            let scope = PurgeScope {
                states: PurgeScope::STATES.to_vec(),
                before_ms: i64::MAX,
            };
            admin::purge(pool, &scope, Some(rng.random_range(1..=5)))
                .await
                .expect("purged");
            "purge"
        }
        93..=95 => {
            crate::housekeeping::prune(pool, now, Duration::from_secs(rng.random_range(0..=60)))
                .await
                .expect("pruned");
            "prune"
        }
        96 => {
            // Someone rewrites a failed row's reason by hand: its kind may change, its state not.
            let reason = if rng.random_bool(0.5) {
                format!("{NO_PROFILE}; noted by hand")
            } else {
                "noted by hand".to_owned()
            };
            sqlx::query(
                "UPDATE outbox SET last_status = 404, last_error = ?1
                 WHERE id = (SELECT id FROM outbox WHERE state = 'failed' ORDER BY random() LIMIT 1)",
            )
            .bind(reason)
            .execute(pool)
            .await
            .expect("edited");
            "edit"
        }
        _ => {
            // A producer deleting its own rows, whatever their state.
            sqlx::query(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY random() LIMIT 2)",
            )
            .execute(pool)
            .await
            .expect("deleted");
            "delete"
        }
    }
}

/// Records a random outcome for each row in flight, in one transaction as delivery does.
async fn record_some(pool: &SqlitePool, rng: &mut StdRng, now: i64) {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE state = 'in_flight'")
        .fetch_all(pool)
        .await
        .expect("in flight");
    let results: Vec<RowResult> = ids
        .into_iter()
        .map(|id| {
            let decision = match rng.random_range(0..7) {
                0 | 1 => Decision::Delivered { status: 200 },
                2 => Decision::Retry {
                    attempts: 1,
                    // Some retries are due already, some later.
                    at_ms: now + rng.random_range(-5_000..60_000),
                    status: Some(404),
                    error: format!("{NO_PROFILE} yet (pc); the row waits for one"),
                },
                3 => Decision::Failed {
                    attempts: 3,
                    status: Some(404),
                    reason: format!("{NO_PROFILE}; the single update API cannot create one"),
                },
                4 => Decision::Failed {
                    attempts: 3,
                    status: Some(400),
                    reason: "attributes: a value is too long".into(),
                },
                5 => Decision::SendAlone {
                    status: Some(400),
                    error: "refused together".into(),
                },
                _ => Decision::HandBack,
            };
            RowResult {
                id,
                requests: 1,
                decision,
            }
        })
        .collect();
    let mut tx = pool.begin().await.expect("transaction");
    super::record(&mut tx, &results, now)
        .await
        .expect("recorded");
    tx.commit().await.expect("committed");
}

/// `retry` or `cancel` of a few rows, planned and applied as the admin commands do.
async fn change(pool: &SqlitePool, rng: &mut StdRng, change: Change, now: i64) {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY random() LIMIT 3")
        .fetch_all(pool)
        .await
        .expect("ids");
    let filter = RowFilter {
        ids: ids.into_iter().filter(|_| rng.random_bool(0.8)).collect(),
        ..RowFilter::default()
    };
    let plan = admin::plan(pool, change, &filter).await.expect("planned");
    admin::apply(pool, &plan, now, OrderGuard::Waive)
        .await
        .expect("applied");
}

/// Runs a seeded history, comparing after every step; the first difference, with the step that
/// made it, is the error.
async fn history(pool: &SqlitePool, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = START_MS;
    for n in 0..STEPS {
        now += rng.random_range(0..2_000);
        let what = step(pool, &mut rng, now).await;
        let (want, got) = (scanned(pool, now).await, kept(pool, now).await);
        if want != got {
            return Err(format!(
                "seed {seed}, step {n} ({what}): scanned {want:?}, kept {got:?}"
            ));
        }
        // Small bounds, so that both sides of now are counted, and subtracted, as with millions.
        let mut conn = pool.acquire().await.expect("connection");
        for bound in [1, 2, 3] {
            let due = figures::due_now(&mut conn, want.0.pending, now, bound)
                .await
                .expect("due now");
            if due != want.1.due_now {
                return Err(format!(
                    "seed {seed}, step {n} ({what}): {due} due counted from {bound}, {} scanned",
                    want.1.due_now
                ));
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_kept_counts_equal_the_table_after_any_history() {
    for seed in 0..6 {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::scratch::migrated(dir.path()).await;
        if let Err(difference) = history(&pool, seed).await {
            panic!("{difference}");
        }
    }
}

#[tokio::test]
async fn without_any_one_of_the_triggers_the_counts_go_wrong() {
    for trigger in [
        "outbox_counts_inserts",
        "outbox_counts_changes",
        "outbox_counts_deletes",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::scratch::migrated(dir.path()).await;
        sqlx::query(&format!("DROP TRIGGER {trigger}"))
            .execute(&pool)
            .await
            .expect("dropped");
        assert!(
            history(&pool, 0).await.is_err(),
            "the history did not notice {trigger} missing"
        );
    }
}

#[tokio::test]
async fn the_migration_counts_the_rows_already_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("outbox.db");
    let older = dir.path().join("migrations-0001-0006");
    std::fs::create_dir(&older).expect("folder");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let name = entry.expect("entry").file_name();
        if name.to_string_lossy().as_ref() < "0007" {
            std::fs::copy(source.join(&name), older.join(&name)).expect("copied");
        }
    }
    let pool = crate::db::open(
        &path,
        crate::db::OpenMode::CreateIfMissing,
        crate::db::Durability::Normal,
        Duration::from_secs(5),
        1,
    )
    .await
    .expect("opens");
    sqlx::migrate::Migrator::new(older.as_path())
        .await
        .expect("older migrations")
        .run(&pool)
        .await
        .expect("the schema before 0007");
    for (n, (state, status, error)) in [
        ("pending", None, None),
        ("pending", None, None),
        ("in_flight", None, None),
        ("delivered", Some(200), None),
        ("failed", Some(400), Some("too long".to_owned())),
        (
            "failed",
            Some(404),
            Some(format!(
                "{NO_PROFILE}; the single update API cannot create one"
            )),
        ),
        ("cancelled", None, None),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO outbox (mbox_pc, attributes, state, last_status, last_error)
             VALUES (?1, '{}', ?2, ?3, ?4)",
        )
        .bind(format!("{n}-{n}.01_00"))
        .bind(state)
        .bind(status)
        .bind(error)
        .execute(&pool)
        .await
        .expect("row written before 0007");
    }

    crate::db::migrate(&pool, &path)
        .await
        .expect("0007 applies");

    let (counts, _, _) = kept(&pool, START_MS).await;
    assert_eq!(
        counts,
        Counts {
            pending: 2,
            in_flight: 1,
            delivered: 1,
            failed: 2,
            failed_no_profile: 1,
            cancelled: 1,
        }
    );
    assert_eq!(counts, scanned(&pool, START_MS).await.0);
}
