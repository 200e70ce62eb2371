//! Figure 3, queue overhead: the daemon's own unit of work (`Deliverer::run_once`: claim, plan,
//! reserve quota, send, record) repeated in this process until a backlog is empty, with every
//! request answered by the client's instant-success seam instead of HTTP. What is left is the
//! cost of the queue itself: rows claimed and recorded a second.

use crate::support::report::{Goal, Report};
use crate::support::stats::{list, median};
use crate::{BACKLOG_ROWS, RUNS};
use profile_outbox::adobe::{Endpoint, TargetClient};
use profile_outbox::clock::{Clock, Timeline};
use profile_outbox::config::{self, Method};
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::delivery::Deliverer;
use profile_outbox::housekeeping::WalCheckpointer;
use profile_outbox::state;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Rows a second over one drain of a copy of `template` (holding `rows` pending rows).
pub async fn run_once(template: &Path, rows: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("outbox.db");
    std::fs::copy(template, &path)?;
    // PROFILE_OUTBOX__* variables set for the benchmark apply here as they do to the daemon.
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("PROFILE_OUTBOX__"))
        .collect();
    env.extend([
        (
            "PROFILE_OUTBOX__DATABASE__PATH".to_owned(),
            path.display().to_string(),
        ),
        (
            "PROFILE_OUTBOX__QUOTA__MAX_PER_SECOND".to_owned(),
            "1000000000".to_owned(),
        ),
        (
            "PROFILE_OUTBOX__QUOTA__BURST".to_owned(),
            "1000000000".to_owned(),
        ),
    ]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let settings = config::load(Some(&example), Some(env))?;
    // As `run` sets delivery up (src/daemon/run.rs): the shared pool, delivery's own
    // connection, and the checkpointer on the shared pool.
    let shared = db::open(
        &path,
        OpenMode::MustExist,
        Durability::Normal,
        settings.database.busy_timeout,
        4,
    )
    .await?;
    let pool = db::open_for_delivery(&path, settings.database.busy_timeout).await?;
    let timeline = Timeline::resume(Clock::System, None);
    state::started(&shared, &timeline).await?;
    let stop = CancellationToken::new();
    let checkpointer = WalCheckpointer::spawn(shared.clone(), stop.clone());
    let base = url::Url::parse("http://127.0.0.1:9")?;
    let endpoint = Endpoint::new(&base, "bench", Method::Get);
    let deliverer = Deliverer::new(
        pool.clone(),
        TargetClient::instant_success(),
        endpoint,
        &settings,
        timeline,
    )
    .with_checkpointer(checkpointer);
    let started = Instant::now();
    let mut delivered = 0;
    loop {
        let report = deliverer.run_once(&stop).await?;
        if report.claimed == 0 {
            break;
        }
        delivered += report.delivered;
    }
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        u64::try_from(delivered)? == rows,
        "{delivered} of {rows} rows delivered"
    );
    stop.cancel();
    pool.close().await;
    shared.close().await;
    Ok(rows as f64 / seconds)
}

/// Runs the figure and adds its lines to `report`.
pub async fn report(
    report: &mut Report,
    backlog: &Path,
    ceiling: Option<f64>,
) -> anyhow::Result<()> {
    println!(
        "3. Queue overhead: Deliverer::run_once with an instant success, {BACKLOG_ROWS} rows x {RUNS}"
    );
    let mut runs = Vec::new();
    let mut cpu_micros = Vec::new();
    for _ in 0..RUNS {
        let cpu_before = crate::support::proc_stats::process_cpu_seconds(std::process::id())?;
        runs.push(run_once(backlog, BACKLOG_ROWS).await?);
        let cpu = crate::support::proc_stats::process_cpu_seconds(std::process::id())? - cpu_before;
        cpu_micros.push(cpu * 1e6 / BACKLOG_ROWS as f64);
    }
    let rows_per_second = median(&runs);
    report.add_with(
        "Queue overhead (claimed and recorded)",
        rows_per_second,
        "rows/s",
        Goal::AtLeast(50_000.0),
        format!(
            "runs {}; CPU {:.1} us per row (copying the backlog included)",
            list(&runs, 0),
            median(&cpu_micros)
        ),
    );
    if let Some(ceiling) = ceiling {
        report.add(
            "Queue overhead / HTTP ceiling",
            rows_per_second / ceiling,
            "ratio",
            Goal::None,
        );
    }
    Ok(())
}
