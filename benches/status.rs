//! How long `status` and a `/metrics` scrape take on outboxes of 10 thousand to 10 million rows,
//! against the goals of issue 11: `status` under 200 ms and a scrape under 50 ms at 10 million
//! rows. Times the library calls `profile-outbox status` makes (open the database, read the
//! status) and the page the metrics server renders for each scrape, several times each, and
//! prints the median and the fastest run.
//!
//! Databases are built once into `target/bench-status/` (10 million rows take about a minute and
//! 1.2 to 1.6 GB each) and reused by later runs; delete the folder to rebuild, or set
//! `PROFILE_OUTBOX_BENCH_DIR` to keep them elsewhere.
//!
//! Run with `cargo bench --bench status` (all mixes) or name mixes: `cargo bench --bench status --
//! healthy-10m`.

use profile_outbox::admin;
use profile_outbox::clock::{Clock, Timeline};
use profile_outbox::config::DatabaseSettings;
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::metrics::{self, Metrics};
use profile_outbox::state;
use sqlx::SqliteConnection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The pipeline benchmark's databases, for their bulk load.
#[path = "support/database.rs"]
#[allow(dead_code)]
mod database;

const RUNS: usize = 9;
const DAY_MS: i64 = 86_400_000;
/// The goals at 10 million rows, in milliseconds.
const STATUS_GOAL_MS: f64 = 200.0;
const SCRAPE_GOAL_MS: f64 = 50.0;

/// A mix of rows: the newest `pending` rows are pending (every `later_every`-th of them waits for a
/// retry ten minutes ahead), and of the rest one in `failed_every` failed, one in
/// `cancelled_every` cancelled, the others delivered.
struct Mix {
    name: &'static str,
    about: &'static str,
    rows: i64,
    pending: i64,
    later_every: i64,
    failed_every: i64,
    cancelled_every: i64,
}

const fn healthy(name: &'static str, about: &'static str, rows: i64) -> Mix {
    Mix {
        name,
        about,
        rows,
        pending: 10_000,
        later_every: 2,
        failed_every: 1_000,
        cancelled_every: 5_000,
    }
}

const MIXES: [Mix; 5] = [
    healthy(
        "healthy-10k",
        "10 thousand rows, healthy: all pending, half of them waiting for a retry",
        10_000,
    ),
    healthy(
        "healthy-1m",
        "1 million rows, healthy: 10,000 pending (half waiting for a retry), 1 in 1,000 failed, 1 in 5,000 cancelled",
        1_000_000,
    ),
    healthy(
        "healthy-10m",
        "10 million rows, healthy: 10,000 pending (half waiting for a retry), 1 in 1,000 failed, 1 in 5,000 cancelled",
        10_000_000,
    ),
    Mix {
        name: "due-10m",
        about: "10 million rows after a long outage: all pending and due now",
        rows: 10_000_000,
        pending: 10_000_000,
        later_every: 0,
        failed_every: 1_000,
        cancelled_every: 5_000,
    },
    Mix {
        name: "put-off-10m",
        about: "10 million rows, 1 million pending, every one waiting for a retry (the walk's worst case)",
        rows: 10_000_000,
        pending: 1_000_000,
        later_every: 1,
        failed_every: 1_000,
        cancelled_every: 5_000,
    },
];

fn main() -> anyhow::Result<()> {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut summary = Vec::new();
        for mix in MIXES
            .iter()
            .filter(|m| named.is_empty() || named.iter().any(|n| n == m.name))
        {
            summary.push(bench(mix).await?);
        }
        println!("\nsummary (median of {RUNS} runs)\n");
        println!("| mix | `status` | goal | mark | scrape | goal | mark |");
        println!("|---|---|---|---|---|---|---|");
        for line in summary {
            println!("{line}");
        }
        Ok(())
    })
}

/// Builds (or reuses) the mix's database, times `status` and a scrape, and returns its table line.
async fn bench(mix: &Mix) -> anyhow::Result<String> {
    let path = database(mix).await?;
    println!("\n{}", mix.about);
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
    // The daemon's pool, as `run` opens it for the metrics server.
    let pool = db::open(
        &path,
        OpenMode::MustExist,
        Durability::Normal,
        Duration::from_secs(5),
        2,
    )
    .await?;
    let counters = Metrics::default();
    let mut scrapes = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let page = metrics::render_page(&pool, &counters, Clock::System.wall_ms()).await?;
        scrapes.push(started.elapsed());
        std::hint::black_box(page);
    }
    pool.close().await;
    summarize("read_status (the queries)", &mut reads);
    let status_ms = summarize(
        "open + read_status (schema check, lock probe, queries)",
        &mut whole,
    );
    let scrape_ms = summarize("/metrics page, rendered as on every scrape", &mut scrapes);
    let at_goal = mix.rows >= 10_000_000;
    let mark = |ms: f64, goal: f64| match (at_goal, ms <= goal) {
        (false, _) => "-",
        (true, true) => "PASS",
        (true, false) => "MISS",
    };
    let goal = |goal: f64| {
        if at_goal {
            format!("< {goal:.0} ms")
        } else {
            "-".to_owned()
        }
    };
    Ok(format!(
        "| {} | {status_ms:.1} ms | {} | {} | {scrape_ms:.1} ms | {} | {} |",
        mix.name,
        goal(STATUS_GOAL_MS),
        mark(status_ms, STATUS_GOAL_MS),
        goal(SCRAPE_GOAL_MS),
        mark(scrape_ms, SCRAPE_GOAL_MS),
    ))
}

/// Prints the median and fastest of `runs`; returns the median in ms.
fn summarize(what: &str, runs: &mut [Duration]) -> f64 {
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(runs[runs.len() / 2]);
    println!(
        "  {what}: median {median:.1} ms, min {:.1} ms over {} runs",
        ms(runs[0]),
        runs.len()
    );
    median
}

/// The mix's database: reused when an earlier run built it, else built now. A database is built
/// under a temporary name and renamed when complete, so an interrupted build is never reused.
async fn database(mix: &Mix) -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("PROFILE_OUTBOX_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-status"),
    };
    std::fs::create_dir_all(&dir)?;
    // The schema is part of the name: a database built by an older schema is not reused.
    let schema =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))?.count();
    let path = dir.join(format!("{}-schema{schema}.db", mix.name));
    if path.exists() {
        println!("\nreusing {}", path.display());
        return Ok(path);
    }
    let building = dir.join(format!("{}-schema{schema}.building.db", mix.name));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", building.display()));
    }
    let started = Instant::now();
    build(&building, mix).await?;
    std::fs::rename(&building, &path)?;
    println!(
        "\nbuilt {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

/// Creates the database as `run` does, then fills it in one statement with the outbox's indexes
/// dropped and rebuilt afterwards (`database::bulk_load`). The triggers stay, so the kept counts
/// are the triggers' own. Adds a day of quota ledger and the daemon's state row.
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
    state::started(&pool, &timeline).await?;
    state::stopped(&pool).await?;
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master
         WHERE type = 'index' AND tbl_name = 'outbox' AND sql IS NOT NULL",
    )
    .fetch_all(&pool)
    .await?;
    // sqlx's `close` can return with a connection still on its way back to the pool (sqlx issue
    // 3217); dropping the pool closes that one too, and `bulk_load` waits for it to let go.
    pool.close().await;
    drop(pool);
    let indexes: Vec<&str> = indexes.iter().map(String::as_str).collect();
    database::bulk_load(path, &indexes, async |conn: &mut SqliteConnection| {
        // Rows spread over 30 days, 50,000 visitors.
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
                    CASE WHEN i > ?1 - ?4 AND ?7 > 0 AND i % ?7 = 0 THEN ?2 + 600000 ELSE 0 END,
                    200, NULL, ?2 - (?1 - i) * ?3
             FROM n",
        )
        .bind(mix.rows)
        .bind(now)
        .bind((30 * DAY_MS / mix.rows).max(1))
        .bind(mix.pending)
        .bind(mix.failed_every)
        .bind(mix.cancelled_every)
        .bind(mix.later_every)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < 1439)
             INSERT INTO quota_ledger (bucket, calls) SELECT ?1 / 60000 - i, 500 FROM b",
        )
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
    .await
}
