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

const RUNS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let backlog = coalescing::backlog(7);
    let rows = backlog.len() as f64;
    println!(
        "profile lookup: {} rows, coalescing on, {RUNS} runs each",
        backlog.len()
    );
    // Runs alternate between off and on, so a machine that speeds up or slows down meanwhile
    // weighs on both alike.
    let mut speeds = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (slot, check) in [false, true].into_iter().enumerate() {
            let (_, seconds) = coalescing::drain(&backlog, true, check).await?;
            speeds[slot].push(rows / seconds);
        }
    }
    let mut medians = Vec::new();
    for (slot, check) in [false, true].into_iter().enumerate() {
        let runs = &mut speeds[slot];
        runs.sort_by(f64::total_cmp);
        let median = runs[runs.len() / 2];
        println!(
            "  check_profile {check:<5}  rows/s: median {median:.0}  (sorted runs {:?})",
            runs.iter().map(|s| s.round()).collect::<Vec<_>>()
        );
        medians.push(median);
    }
    println!(
        "  with the lookup on, the drain runs at {:.2} of its rate without",
        medians[1] / medians[0]
    );
    Ok(())
}
