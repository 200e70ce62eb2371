//! Figure 6, scale: a backlog of millions of pending rows. For each size: the time of one claim
//! (successive claims, as a drain makes them, with the daemon's configured batch), the time of
//! `status`, and the real daemon's peak resident memory while it drains for a few seconds.
//!
//! `status` belongs to the admin commands: when the built binary has it, it is timed as a whole
//! process; otherwise the same reads (counts per state, oldest pending row, rows due, quota use)
//! are timed on a fresh connection, as `status` would open one.

use crate::support::daemon::{self, Daemon, Pace};
use crate::support::database;
use crate::support::proc_stats::Memory;
use crate::support::report::{Goal, Report, number};
use crate::support::stand_in::StandIn;
use crate::support::stats;
use crate::support::stats::{list, median, percentile};
use profile_outbox::config::Settings;
use profile_outbox::outbox;
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Backlog sizes; the daemon drains the ones marked `true`.
const SIZES: [(u64, bool); 3] = [(10_000, false), (1_000_000, true), (10_000_000, true)];

/// Claims timed per size.
const CLAIMS: usize = 20;
/// `status` runs timed per size.
const STATUS_RUNS: usize = 5;
/// How long the daemon drains while its memory is watched.
const DRAIN_WINDOW: Duration = Duration::from_secs(8);

/// How `status` was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusHow {
    /// `profile-outbox status`, the whole process.
    Command,
    /// The equivalent reads in this process (the binary has no `status` yet).
    Queries,
}

/// What one size measured.
#[derive(Clone, Debug)]
pub struct ScaleRun {
    pub load_seconds: f64,
    pub claim_ms: Vec<f64>,
    pub status_ms: Vec<f64>,
    pub status_how: StatusHow,
    pub drain: Option<DrainWatch>,
}

/// The daemon watched while draining a large backlog.
#[derive(Clone, Copy, Debug)]
pub struct DrainWatch {
    pub peak_rss_kib: u64,
    /// Resident memory at the end of the window.
    pub at_end: Memory,
    /// From spawning the process to the stand-in's first request.
    pub first_request_seconds: f64,
    pub rows_per_second: f64,
}

/// Builds a database of `rows` pending rows and measures it; drains it when `drain` is set.
/// Claims are of the daemon's configured size (`settings`).
pub async fn measure(
    rows: u64,
    drain: bool,
    stand_in: &StandIn,
    settings: &Settings,
) -> anyhow::Result<ScaleRun> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("outbox.db");
    let loading = Instant::now();
    database::bulk_backlog(&path, rows).await?;
    let load_seconds = loading.elapsed().as_secs_f64();
    let config = daemon::write_config(dir.path(), &path, &stand_in.base_url, Pace::Unlimited)?;
    let claim_ms = time_claims(&path, settings).await?;
    let (status_ms, status_how) = time_status(&path, &config).await?;
    let drain = if drain {
        Some(watch_drain(&config, &dir.path().join("daemon.log"), stand_in).await?)
    } else {
        None
    };
    Ok(ScaleRun {
        load_seconds,
        claim_ms,
        status_ms,
        status_how,
        drain,
    })
}

/// Times `CLAIMS` successive claims of the configured batch, each taking the next due rows as a
/// drain does. When a small backlog runs out, the claimed rows are put back and claiming goes
/// round again; at the end every row is put back.
async fn time_claims(path: &Path, settings: &Settings) -> anyhow::Result<Vec<f64>> {
    // Delivery's own connection, as the daemon claims on it.
    let pool = profile_outbox::db::open_for_delivery(path, settings.database.busy_timeout).await?;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let batch = settings.workers.batch_size.get();
    let mut times = Vec::with_capacity(CLAIMS);
    let mut just_put_back = false;
    while times.len() < CLAIMS {
        let started = Instant::now();
        let groups = outbox::claim(&pool, now, batch, settings.quota.rows_per_call())
            .await?
            .groups;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if groups.is_empty() {
            anyhow::ensure!(!just_put_back, "a claim found nothing in a full backlog");
            outbox::release_in_flight(&pool, now).await?;
            just_put_back = true;
            continue;
        }
        just_put_back = false;
        times.push(ms);
    }
    outbox::release_in_flight(&pool, now).await?;
    pool.close().await;
    Ok(times)
}

async fn time_status(path: &Path, config: &Path) -> anyhow::Result<(Vec<f64>, StatusHow)> {
    let how = if daemon::has_subcommand("status") {
        StatusHow::Command
    } else {
        StatusHow::Queries
    };
    let mut times = Vec::with_capacity(STATUS_RUNS);
    for _ in 0..STATUS_RUNS {
        let started = Instant::now();
        match how {
            StatusHow::Command => run_status_command(config)?,
            StatusHow::Queries => status_queries(path).await?,
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((times, how))
}

fn run_status_command(config: &Path) -> anyhow::Result<()> {
    let out = Command::new(daemon::binary())
        .arg("--config")
        .arg(config)
        .arg("status")
        .output()?;
    // `status` exits non-zero when something needs a person (here: rows wait, no daemon runs).
    anyhow::ensure!(
        !out.stdout.is_empty(),
        "status printed nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The reads `status` makes, with the indexes this branch has: rows per state (pending, in
/// flight and finished from their partial indexes, failed as the rest of the table's count), the
/// oldest pending row, rows due now, the quota window and the daemon's state row.
async fn status_queries(path: &Path) -> anyhow::Result<()> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    for sql in [
        "SELECT count(*) FROM outbox",
        "SELECT count(*) FROM outbox INDEXED BY outbox_due WHERE state = 'pending'",
        "SELECT count(*) FROM outbox INDEXED BY outbox_in_flight WHERE state = 'in_flight'",
        "SELECT count(*) FROM outbox INDEXED BY outbox_finished WHERE state IN ('delivered', 'cancelled')",
        "SELECT coalesce((SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'pending' ORDER BY id LIMIT 1), 0)",
        "SELECT count(*) FROM outbox INDEXED BY outbox_due WHERE state = 'pending' AND next_attempt_at <= 9000000000000",
        "SELECT coalesce(sum(calls), 0) FROM quota_ledger",
        "SELECT count(*) FROM daemon_state",
    ] {
        let _: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs the daemon on the backlog for `DRAIN_WINDOW` after its first request, then stops it.
async fn watch_drain(config: &Path, log: &Path, stand_in: &StandIn) -> anyhow::Result<DrainWatch> {
    let before = stand_in.requests();
    let spawned = Instant::now();
    let mut daemon = Daemon::spawn(config, log)?;
    while stand_in.requests() == before {
        daemon.check_running()?;
        anyhow::ensure!(
            spawned.elapsed() < Duration::from_secs(120),
            "no request within 120 s; the daemon's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let first_request_seconds = spawned.elapsed().as_secs_f64();
    let draining = Instant::now();
    let at_first = stand_in.requests();
    while draining.elapsed() < DRAIN_WINDOW {
        daemon.check_running()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows_per_second =
        (stand_in.requests() - at_first) as f64 / draining.elapsed().as_secs_f64();
    let memory = daemon.memory()?;
    daemon.stop().await?;
    Ok(DrainWatch {
        peak_rss_kib: memory.peak_kib,
        at_end: memory,
        first_request_seconds,
        rows_per_second,
    })
}

/// Median claim time, in milliseconds.
pub fn median_claim_ms(run: &ScaleRun) -> f64 {
    stats::median(&run.claim_ms)
}

/// Runs the figure and adds its lines to `report`.
pub async fn report(
    report: &mut Report,
    stand_in: &StandIn,
    settings: &Settings,
) -> anyhow::Result<()> {
    let batch = settings.workers.batch_size.get();
    println!(
        "6. Scale: claim time ({batch} visitors a claim), status time, peak RSS while draining"
    );
    let mut peaks = Vec::new();
    let mut claims = Vec::new();
    for (rows, drains) in SIZES {
        let run = measure(rows, drains, stand_in, settings).await?;
        let size = number(rows as f64);
        println!("   {size} rows loaded in {:.1} s", run.load_seconds);
        claims.push(median_claim_ms(&run));
        report.add_with(
            format!("Claim time at {size} pending"),
            median_claim_ms(&run),
            "ms",
            Goal::None,
            format!(
                "{} claims, p90 {:.2} ms",
                run.claim_ms.len(),
                percentile(&run.claim_ms, 90.0)
            ),
        );
        let how = match run.status_how {
            StatusHow::Command => "`profile-outbox status`",
            StatusHow::Queries => "status queries (no `status` command in this build)",
        };
        let goal = if rows >= 10_000_000 {
            Goal::AtMost(200.0)
        } else {
            Goal::None
        };
        report.add_with(
            format!("Status time at {size} pending"),
            median(&run.status_ms),
            "ms",
            goal,
            format!("{how}; runs {}", list(&run.status_ms, 1)),
        );
        if let Some(drain) = run.drain {
            let peak = drain.peak_rss_kib as f64 / 1024.0;
            peaks.push(peak);
            report.add_with(
                format!("Peak RSS draining {size} pending"),
                peak,
                "MiB",
                Goal::AtMost(50.0),
                format!(
                    "at the end {:.1} MiB (heap {:.1}, files {:.1}, shared {:.1}); first request {:.2} s after start; {:.0} rows/s",
                    mib(drain.at_end.rss_kib),
                    mib(drain.at_end.anon_kib),
                    mib(drain.at_end.file_kib),
                    mib(drain.at_end.shmem_kib),
                    drain.first_request_seconds,
                    drain.rows_per_second
                ),
            );
        }
    }
    // "Flat": the same time within a quarter, whatever the backlog.
    if let (Some(first), Some(last)) = (claims.first(), claims.last()) {
        report.add(
            "Claim time growth, largest / smallest backlog",
            last / first,
            "ratio",
            Goal::AtMost(1.25),
        );
    }
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last()) {
        report.add(
            "Peak RSS growth, largest / smallest backlog",
            last / first,
            "ratio",
            Goal::AtMost(1.1),
        );
    }
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
