//! Figure 2, drain: the real daemon (`profile-outbox run`, a child process) empties a backlog of
//! distinct visitors into the stand-in with the rate limit out of the way. Timed from spawning
//! the process until the stand-in has answered every row and the database shows none unfinished.

use crate::support::daemon::{self, Daemon, Pace};
use crate::support::database;
use crate::support::report::{Goal, Report};
use crate::support::stand_in::StandIn;
use crate::support::stats::{list, median};
use crate::{BACKLOG_ROWS, RUNS};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest a drain may take before the benchmark gives up.
const TIME_LIMIT: Duration = Duration::from_secs(300);

/// What one drain measured.
#[derive(Clone, Copy, Debug)]
pub struct DrainRun {
    pub rows_per_second: f64,
    /// The daemon's user + system CPU seconds per second of drain (1.0 = one core busy).
    pub daemon_cores: f64,
    /// The stand-in's CPU seconds per second of drain.
    pub stand_in_cores: f64,
    pub peak_rss_kib: u64,
}

/// Drains a copy of `template` (holding `rows` pending rows) once.
pub async fn run_once(template: &Path, rows: u64, stand_in: &StandIn) -> anyhow::Result<DrainRun> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("outbox.db");
    std::fs::copy(template, &path)?;
    let config = daemon::write_config(dir.path(), &path, &stand_in.base_url, Pace::Unlimited)?;
    let reader = database::open_reader(&path).await?;
    let answered_before = stand_in.requests();
    let stand_in_cpu_before = stand_in_cpu()?;
    let started = Instant::now();
    let mut daemon = Daemon::spawn(&config, &dir.path().join("daemon.log"))?;
    while stand_in.requests() - answered_before < rows {
        wait_a_moment(&mut daemon, started).await?;
    }
    while database::has_unfinished(&reader).await? {
        wait_a_moment(&mut daemon, started).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let run = DrainRun {
        rows_per_second: rows as f64 / seconds,
        daemon_cores: daemon.cpu_seconds()? / seconds,
        stand_in_cores: (stand_in_cpu()? - stand_in_cpu_before) / seconds,
        peak_rss_kib: daemon.memory()?.peak_kib,
    };
    daemon.stop().await?;
    let delivered = database::count(&reader, "delivered").await?;
    anyhow::ensure!(
        u64::try_from(delivered)? == rows,
        "{delivered} of {rows} rows delivered (log: {})",
        dir.path().join("daemon.log").display()
    );
    reader.close().await;
    Ok(run)
}

async fn wait_a_moment(daemon: &mut Daemon, started: Instant) -> anyhow::Result<()> {
    daemon.check_running()?;
    anyhow::ensure!(
        started.elapsed() < TIME_LIMIT,
        "the drain took over {TIME_LIMIT:?}"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

fn stand_in_cpu() -> anyhow::Result<f64> {
    crate::support::proc_stats::threads_cpu_seconds(crate::support::stand_in::THREAD_NAME)
}

/// Runs the figure and adds its lines to `report`.
pub async fn report(
    report: &mut Report,
    backlog: &Path,
    stand_in: &StandIn,
    ceiling: Option<f64>,
) -> anyhow::Result<()> {
    println!(
        "2. Drain: profile-outbox run, {BACKLOG_ROWS} distinct visitors, quota unlimited, x {RUNS}"
    );
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(run_once(backlog, BACKLOG_ROWS, stand_in).await?);
    }
    let speeds: Vec<f64> = runs.iter().map(|r| r.rows_per_second).collect();
    let rows_per_second = median(&speeds);
    let cores = median(&runs.iter().map(|r| r.daemon_cores).collect::<Vec<_>>());
    let stand_in_cores = median(&runs.iter().map(|r| r.stand_in_cores).collect::<Vec<_>>());
    let peak = median(
        &runs
            .iter()
            .map(|r| r.peak_rss_kib as f64 / 1024.0)
            .collect::<Vec<_>>(),
    );
    report.add_with("Drain", rows_per_second, "rows/s", Goal::None,
        format!("runs {}; daemon used {cores:.2} cores, stand-in {stand_in_cores:.2}; peak RSS {peak:.1} MiB", list(&speeds, 0)));
    if let Some(ceiling) = ceiling {
        report.add(
            "Drain / HTTP ceiling",
            rows_per_second / ceiling,
            "ratio",
            Goal::AtLeast(0.9),
        );
    }
    Ok(())
}
