//! The pipeline benchmark (issue 6): every figure that says whether the daemon is good, each
//! printed as its median over several runs against its goal with a PASS or MISS mark, and a
//! table at the end in the form BENCHMARKS.md keeps.
//!
//! 1. HTTP ceiling: the daemon's `TargetClient` against a loopback stand-in, no queue.
//! 2. Drain: the real daemon process empties 100,000 rows into the stand-in.
//! 3. Queue overhead: the daemon's unit of work with an in-process instant success.
//! 4. Producer cost: one INSERT per transaction into `outbox` against a bare table.
//! 5. Latency: COMMIT to request with the daemon idle, and its idle CPU.
//! 6. Scale: claim time, `status` time and peak memory with 1 and 10 million rows waiting.
//! 7. Coalescing: calls per row on a Zipf backlog (benches/coalescing.rs).
//!
//! Run: `cargo bench --bench pipeline` (all, under 5 minutes on 2 cores), or name figures to run
//! only those: `cargo bench --bench pipeline -- drain overhead`.

mod figures;
mod support;

// The standalone coalescing benchmark; its `main` is unused here.
#[allow(dead_code)]
#[path = "coalescing.rs"]
mod coalescing;

use figures::{ceiling, drain, latency, overhead, producer, scale};
use std::path::Path;
use std::time::Instant;
use support::report::{Goal, Report};
use support::stand_in::{Arrivals, StandIn};

/// Runs of each short figure; the median is reported.
const RUNS: usize = 5;
/// Rows in the drain and queue-overhead backlogs.
const BACKLOG_ROWS: u64 = 100_000;
/// Worker threads of the stand-in's own runtime.
const STAND_IN_THREADS: usize = 1;

const FIGURES: [&str; 7] = [
    "ceiling",
    "drain",
    "overhead",
    "producer",
    "latency",
    "scale",
    "coalescing",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let chosen = chosen_figures();
    let started = Instant::now();
    print_setup()?;
    let mut report = Report::default();
    let stand_in = StandIn::start(STAND_IN_THREADS, Arrivals::Ignore)?;
    let defaults = default_settings()?;
    let concurrency = usize::try_from(defaults.workers.concurrency.get())?;
    // The drain is shown against the ceiling, so measuring it measures the ceiling too.
    let ceiling = if chosen.iter().any(|f| ["ceiling", "drain"].contains(f)) {
        Some(ceiling::report(&mut report, &stand_in, concurrency).await?)
    } else {
        None
    };
    let template = tempfile::tempdir()?;
    let backlog = template.path().join("backlog.db");
    if chosen.iter().any(|f| ["drain", "overhead"].contains(f)) {
        support::database::create_backlog(&backlog, BACKLOG_ROWS).await?;
    }
    if chosen.contains(&"drain") {
        drain::report(&mut report, &backlog, &stand_in, ceiling).await?;
    }
    if chosen.contains(&"overhead") {
        overhead::report(&mut report, &backlog, ceiling).await?;
    }
    if chosen.contains(&"producer") {
        producer::report(&mut report).await?;
    }
    if chosen.contains(&"latency") {
        latency::report(&mut report, defaults.workers.poll_interval).await?;
    }
    if chosen.contains(&"scale") {
        scale::report(&mut report, &stand_in, &defaults).await?;
    }
    if chosen.contains(&"coalescing") {
        measure_coalescing(&mut report).await?;
    }
    println!(
        "\nsummary ({:.0} s in all)\n\n{}",
        started.elapsed().as_secs_f64(),
        report.table()
    );
    Ok(())
}

/// Figures named on the command line (cargo passes `--bench` too; flags are ignored), else all.
fn chosen_figures() -> Vec<&'static str> {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let chosen: Vec<&'static str> = FIGURES
        .into_iter()
        .filter(|f| named.iter().any(|n| n == f))
        .collect();
    if chosen.is_empty() {
        FIGURES.to_vec()
    } else {
        chosen
    }
}

fn print_setup() -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")?
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "profile-outbox pipeline benchmark: {cpus} CPUs ({model}), load average {}",
        load.trim()
    );
    println!("daemon binary: {}\n", support::daemon::binary().display());
    Ok(())
}

/// The daemon's built-in defaults (config.example.toml), with any PROFILE_OUTBOX__* variables
/// set for the benchmark, as the daemon it starts will see them.
fn default_settings() -> anyhow::Result<profile_outbox::config::Settings> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    profile_outbox::config::load(Some(&example), None)
}

async fn measure_coalescing(report: &mut Report) -> anyhow::Result<()> {
    println!("7. Coalescing (benches/coalescing.rs)");
    let figures = coalescing::measure().await?;
    report.add(
        "Calls per row, coalescing off",
        figures.calls_per_row_off,
        "calls",
        Goal::None,
    );
    report.add_with(
        "Calls per row, coalescing on",
        figures.calls_per_row_on,
        "calls",
        Goal::None,
        format!(
            "{:.0} rows/s on, {:.0} off",
            figures.rows_per_second_on, figures.rows_per_second_off
        ),
    );
    Ok(())
}
