//! Figure 5, latency: with the real daemon idle, a producer inserts one row at a time and the
//! benchmark times each from the moment its COMMIT returned to the moment its request reached the
//! stand-in. Between rows it waits for the request, then a random time within one
//! `workers.poll_interval`, so rows land at every point of the daemon's poll cycle (whose phase
//! each delivery resets). Before that, the idle daemon's CPU use is read from /proc.

use crate::support::daemon::{self, Daemon, Pace};
use crate::support::database;
use crate::support::report::{Goal, Report};
use crate::support::stand_in::{Arrivals, StandIn};
use crate::support::stats::percentile;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Rows timed, and how long the idle daemon's CPU is watched.
const LATENCY_SAMPLES: u64 = 1_000;
const IDLE_WINDOW: Duration = Duration::from_secs(10);

/// What the latency run measured.
#[derive(Clone, Debug)]
pub struct LatencyRun {
    /// Milliseconds from COMMIT to arrival, one per row.
    pub samples_ms: Vec<f64>,
    /// The idle daemon's CPU use, in percent of one core.
    pub idle_cpu_percent: f64,
    pub idle_window: Duration,
}

/// `poll_interval` is the daemon's (its defaults are used).
pub async fn measure(
    samples: u64,
    idle_window: Duration,
    poll_interval: Duration,
) -> anyhow::Result<LatencyRun> {
    let (sender, mut arrivals) = mpsc::unbounded_channel();
    let stand_in = StandIn::start(1, Arrivals::Report(sender))?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("outbox.db");
    database::open_as_daemon(&path, 1).await?.close().await;
    let config = daemon::write_config(dir.path(), &path, &stand_in.base_url, Pace::Defaults)?;
    let mut daemon = Daemon::spawn(&config, &dir.path().join("daemon.log"))?;
    wait_until_started(&path, &mut daemon).await?;
    let idle_cpu_percent = idle_cpu_percent(&daemon, idle_window).await?;
    let mut producer = database::connect_producer(&path).await?;
    let mut samples_ms = Vec::new();
    for seq in 0..samples {
        sqlx::query("INSERT INTO outbox (mbox_pc, attributes, source) VALUES (?1, ?2, 'latency')")
            .bind(format!("{seq}-1.01_00"))
            .bind(format!(r#"{{"seq":"{seq}"}}"#))
            .execute(&mut producer)
            .await?;
        let committed = Instant::now();
        let arrived = arrival_of(seq, &mut arrivals).await?;
        samples_ms.push(arrived.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        let poll_micros = u64::try_from(poll_interval.as_micros())?.max(1);
        tokio::time::sleep(Duration::from_micros(rand::random_range(0..poll_micros))).await;
    }
    daemon.stop().await?;
    Ok(LatencyRun {
        samples_ms,
        idle_cpu_percent,
        idle_window,
    })
}

/// Waits until the daemon has recorded its start, then a second more for start-up work to end.
async fn wait_until_started(path: &std::path::Path, daemon: &mut Daemon) -> anyhow::Result<()> {
    let reader = database::open_reader(path).await?;
    let started = Instant::now();
    loop {
        daemon.check_running()?;
        let pid: Option<i64> = sqlx::query_scalar("SELECT pid FROM daemon_state WHERE id = 1")
            .fetch_optional(&reader)
            .await?
            .flatten();
        if pid.is_some() {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the daemon did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reader.close().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

async fn idle_cpu_percent(daemon: &Daemon, window: Duration) -> anyhow::Result<f64> {
    let before = daemon.cpu_seconds()?;
    tokio::time::sleep(window).await;
    Ok(100.0 * (daemon.cpu_seconds()? - before) / window.as_secs_f64())
}

async fn arrival_of(
    seq: u64,
    arrivals: &mut mpsc::UnboundedReceiver<(u64, Instant)>,
) -> anyhow::Result<Instant> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await;
        match next {
            Ok(Some((arrived_seq, at))) if arrived_seq == seq => return Ok(at),
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("the stand-in stopped"),
            Err(_) => anyhow::bail!("row {seq} did not reach the stand-in within 10 s"),
        }
    }
}

/// Runs the figure and adds its lines to `report`.
pub async fn report(report: &mut Report, poll_interval: Duration) -> anyhow::Result<()> {
    println!(
        "5. Latency: idle daemon, default settings (poll every {poll_interval:?}), {LATENCY_SAMPLES} single inserts; idle CPU over {IDLE_WINDOW:?}"
    );
    let run = measure(LATENCY_SAMPLES, IDLE_WINDOW, poll_interval).await?;
    let samples = &run.samples_ms;
    report.add(
        "Latency COMMIT to request, p50",
        percentile(samples, 50.0),
        "ms",
        Goal::AtMost(50.0),
    );
    report.add_with(
        "Latency COMMIT to request, p99",
        percentile(samples, 99.0),
        "ms",
        Goal::AtMost(250.0),
        format!(
            "max {:.1} ms over {} rows",
            percentile(samples, 100.0),
            samples.len()
        ),
    );
    report.add_with(
        "Idle daemon CPU",
        run.idle_cpu_percent,
        "% core",
        Goal::AtMost(1.0),
        format!("over {:?}", run.idle_window),
    );
    Ok(())
}
