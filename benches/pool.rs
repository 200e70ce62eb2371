//! Quota use under skewed demand: ten hosts sharing one pool on a real PostgreSQL server, against
//! today's static split of the same limit.
//!
//! Demand is Zipf-distributed over the hosts (a few busy stores, many quiet ones) and twice the
//! limit in total, so the limit is reached within the run. Each host, every 100 ms of its
//! timeline, asks for up to 100 calls (its rate) while it has demand, sends all it is granted, and
//! settles with the pool once idle, as `run` does. The pool's figure is the calls sent over what
//! the pool may grant (its limit less the offline shares); the static split's is what each host
//! could send with a tenth of the limit. The added latency is the wall time spent in `reserve`
//! per call sent (round trips to PostgreSQL over a Unix socket included).
//!
//! Run: `cargo bench --bench pool`. Needs PostgreSQL's server binaries (Debian: `postgresql`).

#[path = "../tests/pool/server.rs"]
#[allow(dead_code)]
mod pg_server;

use profile_outbox::config::{PoolSettings, parse_pool_url};
use profile_outbox::quota::pool::{PoolQuota, init};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use std::time::{Duration, Instant};

const HOSTS: usize = 10;
const LIMIT: i64 = 20_000;
const SHARE: i64 = 100;
const ZIPF_EXPONENT: f64 = 1.1;
const RATE: i64 = 100;
const STEP_MS: i64 = 100;
/// The run ends after this many steps in a row without a call granted to anyone.
const QUIET_STEPS: usize = 50;
const RUNS: usize = 3;

struct Run {
    pool_use: f64,
    latency_per_call: Duration,
    steps: usize,
}

fn demand() -> Vec<i64> {
    let weights: Vec<f64> = (1..=HOSTS)
        .map(|rank| 1.0 / (rank as f64).powf(ZIPF_EXPONENT))
        .collect();
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .map(|w| (2.0 * LIMIT as f64 * w / total).round() as i64)
        .collect()
}

fn static_use(demand: &[i64]) -> f64 {
    let share = LIMIT / HOSTS as i64;
    let sent: i64 = demand.iter().map(|d| (*d).min(share)).sum();
    sent as f64 / LIMIT as f64
}

async fn hosts(url: &str, dir: &tempfile::TempDir) -> anyhow::Result<Vec<PoolQuota>> {
    let mut hosts = Vec::new();
    for h in 0..HOSTS {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join(format!("outbox-{h}.db")))
            .create_if_missing(true);
        let settings = PoolSettings {
            url: parse_pool_url(url).map_err(anyhow::Error::msg)?,
            host: format!("store-{h}"),
            offline_share: SHARE,
            password_file: None,
        };
        let sqlite = SqlitePool::connect_with(options).await?;
        hosts.push(PoolQuota::open(&settings, sqlite, RATE).await?);
    }
    Ok(hosts)
}

async fn pool_run(server: &pg_server::Server) -> anyhow::Result<Run> {
    let url = pg_server::fresh_database_on(server).await;
    init(&mut pg_server::connect_url(&url).await, LIMIT).await?;
    let dir = tempfile::tempdir()?;
    let hosts = hosts(&url, &dir).await?;
    let mut backlog = demand();
    let (mut sent, mut spent_in_reserve, mut quiet, mut steps) = (0, Duration::ZERO, 0, 0);
    let mut now = 0;
    while quiet < QUIET_STEPS && backlog.iter().any(|b| *b > 0) {
        let mut granted = 0;
        for (host, left) in hosts.iter().zip(backlog.iter_mut()) {
            if *left == 0 {
                host.settle_when_idle(now).await;
                continue;
            }
            let started = Instant::now();
            let reserved = host.reserve(now, (*left).min(RATE)).await?;
            spent_in_reserve += started.elapsed();
            *left -= reserved.calls;
            granted += reserved.calls;
        }
        sent += granted;
        quiet = if granted == 0 { quiet + 1 } else { 0 };
        now += STEP_MS;
        steps += 1;
    }
    Ok(Run {
        pool_use: sent as f64 / (LIMIT - HOSTS as i64 * SHARE) as f64,
        latency_per_call: spent_in_reserve / u32::try_from(sent.max(1))?,
        steps,
    })
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let server = pg_server::own_server();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(runtime.block_on(pool_run(&server))?);
    }
    server.stop();
    runs.sort_by(|a, b| a.pool_use.total_cmp(&b.pool_use));
    let median = &runs[RUNS / 2];
    let demand = demand();
    println!("demand per host (Zipf {ZIPF_EXPONENT}, twice the limit): {demand:?}");
    println!(
        "limit {LIMIT}, offline shares {HOSTS} x {SHARE}; {} steps of {STEP_MS} ms",
        median.steps
    );
    println!(
        "pool use of the shareable limit: {:.4} (runs: {:?})",
        median.pool_use,
        runs.iter()
            .map(|r| format!("{:.4}", r.pool_use))
            .collect::<Vec<_>>()
    );
    println!(
        "static split use of the limit:   {:.4}",
        static_use(&demand)
    );
    println!(
        "pool's added latency per call:   {:.1} us",
        median.latency_per_call.as_secs_f64() * 1e6
    );
    Ok(())
}
