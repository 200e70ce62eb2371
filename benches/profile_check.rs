//! Drain rate with the profile lookup (`target.check_profile`) on and off: the coalescing
//! benchmark's backlog (20,000 events for 2,000 visitors, Zipf), coalescing on, delivered to the
//! built-in stand-in on 127.0.0.1, which answers lookups too. With the lookup on, each visitor
//! costs one more request, not counted in the quota.
//!
//! Run: `cargo bench --bench profile_check`.

// The coalescing benchmark's backlog and drain; its `main` is unused here.
#[allow(dead_code)]
#[path = "coalescing.rs"]
mod coalescing;

const RUNS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let backlog = coalescing::backlog(7);
    let rows = backlog.len() as f64;
    println!(
        "profile lookup: {} rows, coalescing on, {RUNS} runs each",
        backlog.len()
    );
    let mut medians = Vec::new();
    for check in [false, true] {
        let mut speeds = Vec::new();
        for _ in 0..RUNS {
            let (_, seconds) = coalescing::drain(&backlog, true, check).await?;
            speeds.push(rows / seconds);
        }
        speeds.sort_by(f64::total_cmp);
        let median = speeds[speeds.len() / 2];
        println!(
            "  check_profile {:<5}  rows/s: median {median:.0}  (runs {:?})",
            check,
            speeds.iter().map(|s| s.round()).collect::<Vec<_>>()
        );
        medians.push(median);
    }
    println!(
        "  with the lookup on, the drain runs at {:.2} of its rate without",
        medians[1] / medians[0]
    );
    Ok(())
}
