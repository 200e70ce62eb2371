//! How long `status` takes on an outbox of 1,000,000 rows: builds the database in a temporary
//! folder (or at `$PROFILE_OUTBOX_BENCH_DB`, kept for timing the binary itself), then times the
//! library calls `profile-outbox status` makes, several times, and prints the median and the
//! fastest run.
//!
//! Two mixes: a healthy outbox (nearly everything delivered, some pending, a few failed and
//! cancelled) and one after a week offline (a fifth of the rows still pending).
//!
//! Run with `cargo bench --bench status`.

use profile_outbox::admin;
use profile_outbox::clock::{Clock, Timeline};
use profile_outbox::config::DatabaseSettings;
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::state;
use std::path::Path;
use std::time::{Duration, Instant};

const ROWS: i64 = 1_000_000;
const RUNS: usize = 7;
const DAY_MS: i64 = 86_400_000;

/// A mix of rows: the newest `pending` rows are pending, and of the rest one in `failed_every`
/// failed, one in `cancelled_every` cancelled, the others delivered.
struct Mix {
    name: &'static str,
    pending: i64,
    failed_every: i64,
    cancelled_every: i64,
}

const MIXES: [Mix; 2] = [
    Mix {
        name: "healthy: 10,000 pending, 1 in 1,000 failed, 1 in 5,000 cancelled",
        pending: 10_000,
        failed_every: 1_000,
        cancelled_every: 5_000,
    },
    Mix {
        name: "a week offline: 200,000 pending",
        pending: 200_000,
        failed_every: 1_000,
        cancelled_every: 5_000,
    },
];

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for mix in &MIXES {
            bench(mix).await?;
        }
        Ok(())
    })
}

async fn bench(mix: &Mix) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = match std::env::var_os("PROFILE_OUTBOX_BENCH_DB") {
        Some(path) => path.into(),
        None => dir.path().join("outbox.db"),
    };
    let _ = std::fs::remove_file(&path);
    let built = Instant::now();
    build(&path, mix).await?;
    println!("\n{} rows, {}", ROWS, mix.name);
    println!(
        "  built in {:.1} s ({})",
        built.elapsed().as_secs_f64(),
        path.display()
    );
    let settings = DatabaseSettings {
        path: path.clone(),
        busy_timeout: Duration::from_secs(5),
        retention: Duration::from_secs(7 * 86_400),
        max_pending_rows: None,
    };
    let mut reads = Vec::with_capacity(RUNS);
    let mut whole = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let opened = Instant::now();
        let db = admin::open(&settings).await?;
        let read = Instant::now();
        let status = admin::read_status(&db, 1_000_000, Clock::System).await?;
        reads.push(read.elapsed());
        whole.push(opened.elapsed());
        std::hint::black_box(status);
        db.pool.close().await;
    }
    summarize("read_status (the queries)", &mut reads);
    summarize(
        "open + read_status (schema check, lock probe, queries)",
        &mut whole,
    );
    Ok(())
}

fn summarize(what: &str, runs: &mut [Duration]) {
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {what}: median {:.1} ms, min {:.1} ms over {} runs",
        ms(runs[runs.len() / 2]),
        ms(runs[0]),
        runs.len()
    );
}

/// Creates the database as `run` does and fills it in one statement, with a day of quota ledger
/// and the daemon's state row.
async fn build(path: &Path, mix: &Mix) -> anyhow::Result<()> {
    let pool = db::open(
        path,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        Duration::from_secs(5),
        1,
    )
    .await?;
    db::migrate(&pool, path).await?;
    let timeline = Timeline::resume(Clock::System, None);
    let now = timeline.now_ms();
    // Rows spread over 30 days, 50,000 visitors; half the pending rows wait for a retry.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO outbox (mbox_pc, attributes, source, created_at, state, attempts, sends,
                             next_attempt_at, last_status, last_error, updated_at)
         SELECT (i % 50000) || '-' || (i % 977) || '.01_00',
                '{\"loyalty_tier\":\"gold\",\"visits\":' || i || '}', 'loyalty-app',
                ?2 - (?1 - i) * ?3,
                CASE WHEN i > ?1 - ?4 THEN 'pending'
                     WHEN i % ?5 = 0 THEN 'failed'
                     WHEN i % ?6 = 1 THEN 'cancelled'
                     ELSE 'delivered' END,
                0, 1,
                CASE WHEN i > ?1 - ?4 AND i % 2 = 0 THEN ?2 + 600000 ELSE 0 END,
                200, NULL, ?2 - (?1 - i) * ?3
         FROM n",
    )
    .bind(ROWS)
    .bind(now)
    .bind(30 * DAY_MS / ROWS)
    .bind(mix.pending)
    .bind(mix.failed_every)
    .bind(mix.cancelled_every)
    .execute(&pool)
    .await?;
    sqlx::query(
        "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < 1439)
         INSERT INTO quota_ledger (bucket, calls) SELECT ?1 / 60000 - i, 500 FROM b",
    )
    .bind(now)
    .execute(&pool)
    .await?;
    state::started(&pool, &timeline).await?;
    state::stopped(&pool).await?;
    pool.close().await;
    Ok(())
}
