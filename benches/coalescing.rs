//! Calls spent per row on a realistic backlog, with coalescing on and off.
//!
//! The backlog: 20,000 events for 2,000 visitors (10 per visitor on average), visitors drawn from
//! a Zipf distribution (a few loyal customers have many events, most have one or two), each event
//! setting one or two of five attributes. Delivered to the built-in stand-in on 127.0.0.1.
//!
//! Run: `cargo bench --bench coalescing` (alone), or `cargo bench --bench pipeline` (with every
//! other figure).

use profile_outbox::adobe::{Endpoint, Sandbox, TargetClient};
use profile_outbox::clock::{Clock, Timeline};
use profile_outbox::config::{self, Settings};
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::delivery::Deliverer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const VISITORS: usize = 2_000;
const ROWS: usize = 20_000;
const ZIPF_EXPONENT: f64 = 1.1;
const RUNS: usize = 3;
const ATTRIBUTES: [&str; 5] = [
    "loyalty_tier",
    "visits",
    "last_store",
    "loan_status",
    "call_reason",
];

/// Calls per row and rows a second, median over `RUNS` drains, with coalescing off and on.
#[derive(Clone, Copy, Debug)]
pub struct Coalescing {
    pub calls_per_row_off: f64,
    pub calls_per_row_on: f64,
    pub rows_per_second_off: f64,
    pub rows_per_second_on: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let figures = measure().await?;
    println!(
        "  coalescing spends {:.1}% of the calls it would without ({:.1}x fewer)",
        100.0 * figures.calls_per_row_on / figures.calls_per_row_off,
        figures.calls_per_row_off / figures.calls_per_row_on
    );
    Ok(())
}

/// Drains the skewed backlog `RUNS` times each way, printing a line per mode. The pipeline
/// benchmark (`benches/pipeline.rs`) calls this too.
pub async fn measure() -> anyhow::Result<Coalescing> {
    println!(
        "coalescing: {ROWS} rows, {VISITORS} visitors, Zipf s={ZIPF_EXPONENT}, {RUNS} runs each"
    );
    let backlog = backlog(7);
    let distinct = backlog
        .iter()
        .map(|(v, _)| v)
        .collect::<std::collections::HashSet<_>>()
        .len();
    println!("  visitors with at least one row: {distinct}");
    let mut calls = HashMap::new();
    let mut speeds = HashMap::new();
    for coalesce in [false, true] {
        let mut calls_per_row = Vec::new();
        let mut rows_per_second = Vec::new();
        for _ in 0..RUNS {
            let (calls, seconds) = drain(&backlog, coalesce, false).await?;
            calls_per_row.push(calls as f64 / ROWS as f64);
            rows_per_second.push(ROWS as f64 / seconds);
        }
        let median_calls = median(&mut calls_per_row);
        let median_speed = median(&mut rows_per_second);
        calls.insert(coalesce, median_calls);
        speeds.insert(coalesce, median_speed);
        println!(
            "  coalescing {:<3}  calls per row: median {median_calls:.3}   rows/s: median {median_speed:.0}",
            if coalesce { "on" } else { "off" },
        );
    }
    Ok(Coalescing {
        calls_per_row_off: calls[&false],
        calls_per_row_on: calls[&true],
        rows_per_second_off: speeds[&false],
        rows_per_second_on: speeds[&true],
    })
}

/// (visitor id, attributes JSON) in the order producers wrote them.
pub fn backlog(seed: u64) -> Vec<(String, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let weights: Vec<f64> = (1..=VISITORS)
        .map(|k| 1.0 / (k as f64).powf(ZIPF_EXPONENT))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(VISITORS);
    let mut sum = 0.0;
    for w in weights {
        sum += w / total;
        cumulative.push(sum);
    }
    (0..ROWS)
        .map(|n| {
            let draw: f64 = rng.random();
            let visitor = cumulative.partition_point(|c| *c < draw).min(VISITORS - 1);
            let mut attributes = serde_json::Map::new();
            for _ in 0..rng.random_range(1..=2) {
                let name = ATTRIBUTES[rng.random_range(0..ATTRIBUTES.len())];
                attributes.insert(name.to_owned(), serde_json::json!(format!("value-{n}")));
            }
            (
                format!("CRM-{visitor:05}"),
                serde_json::Value::Object(attributes).to_string(),
            )
        })
        .collect()
}

/// Drains the backlog from a fresh database; returns the calls made and the seconds it took.
/// Drains `backlog` through the real deliverer to the stand-in; returns calls made and seconds.
/// Profile lookups (`check_profile`) are off for the coalescing figures: they are not calls.
pub async fn drain(
    backlog: &[(String, String)],
    coalesce: bool,
    check_profile: bool,
) -> anyhow::Result<(u64, f64)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("outbox.db");
    let env = HashMap::from([
        (
            "PROFILE_OUTBOX__DATABASE__PATH".to_owned(),
            path.display().to_string(),
        ),
        (
            "PROFILE_OUTBOX__QUOTA__MAX_PER_SECOND".to_owned(),
            "1000000".to_owned(),
        ),
        (
            "PROFILE_OUTBOX__QUOTA__BURST".to_owned(),
            "100000".to_owned(),
        ),
        (
            "PROFILE_OUTBOX__QUOTA__COALESCE".to_owned(),
            coalesce.to_string(),
        ),
        (
            "PROFILE_OUTBOX__TARGET__CHECK_PROFILE".to_owned(),
            check_profile.to_string(),
        ),
        (
            "PROFILE_OUTBOX__TARGET__CHECK_MAX_PER_SECOND".to_owned(),
            "1000000".to_owned(),
        ),
    ]);
    let settings: Settings = config::load(Some(&example_config()), Some(env))?;
    let pool = db::open(
        &path,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        settings.database.busy_timeout,
        4,
    )
    .await?;
    db::migrate(&pool, &path).await?;
    let mut tx = pool.begin().await?;
    for (visitor, attributes) in backlog {
        sqlx::query("INSERT INTO outbox (mbox_3rd_party_id, attributes) VALUES (?, ?)")
            .bind(visitor)
            .bind(attributes)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let stop = CancellationToken::new();
    let sandbox = Sandbox::start(stop.clone()).await?;
    let timeline = Timeline::resume(Clock::System, None);
    profile_outbox::state::started(&pool, &timeline).await?;
    let client = TargetClient::new(settings.target.timeout, 8, None)?;
    let endpoint = Endpoint::new(&sandbox.base_url()?, "bench", settings.target.method);
    let deliverer = Deliverer::new(pool.clone(), client, endpoint, &settings, timeline);
    let start = Instant::now();
    let mut calls = 0u64;
    loop {
        let report = deliverer.run_once(&stop).await?;
        if report.claimed == 0 {
            break;
        }
        calls += u64::from(report.requests);
    }
    let seconds = start.elapsed().as_secs_f64();
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'delivered'")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        delivered as usize == ROWS,
        "only {delivered} of {ROWS} rows delivered"
    );
    stop.cancel();
    pool.close().await;
    Ok((calls, seconds))
}

fn example_config() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
