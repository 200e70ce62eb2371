//! Figure 1, the HTTP ceiling: requests a second of the daemon's own `TargetClient` against the
//! stand-in, with no queue at all, `workers.concurrency` requests in flight. Requests are built
//! beforehand with the daemon's own request builder, as a batch's are before it is sent.

use crate::RUNS;
use crate::support::report::{Goal, Report};
use crate::support::stand_in::StandIn;
use crate::support::stats::{list, median};
use futures_util::StreamExt;
use profile_outbox::adobe::{Endpoint, Outcome, PreparedRequest, ProfileUpdate, TargetClient};
use profile_outbox::config::Method;
use std::time::{Duration, Instant};

/// Requests per timed run.
const REQUESTS: usize = 50_000;

/// Requests sent (untimed) before each timed run, so connections are open.
const WARM_UP: usize = 2_000;

/// Requests a second over `requests` requests, `concurrency` at a time.
pub async fn measure(
    stand_in: &StandIn,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<f64> {
    let client = TargetClient::new(Duration::from_secs(10), concurrency, None)?;
    let endpoint = Endpoint::new(&stand_in.base_url, "bench", Method::Get);
    send_all(&client, build(&endpoint, WARM_UP)?, concurrency).await?;
    let batch = build(&endpoint, requests)?;
    let started = Instant::now();
    send_all(&client, batch, concurrency).await?;
    Ok(requests as f64 / started.elapsed().as_secs_f64())
}

/// One request per visitor, as the drain's rows become.
fn build(endpoint: &Endpoint, count: usize) -> anyhow::Result<Vec<PreparedRequest>> {
    let mut requests = Vec::with_capacity(count);
    for n in 0..count {
        let pc = format!(
            "{}-{n}.01_00",
            n.wrapping_mul(2_654_435_761) % 4_294_967_296
        );
        let attributes = format!(r#"{{"loyalty_tier":"gold","visits":"{n}"}}"#);
        let update = ProfileUpdate::from_row(Some(&pc), None, &attributes)
            .map_err(|e| anyhow::anyhow!("bad benchmark row: {e}"))?;
        requests.extend(
            profile_outbox::adobe::prepare(endpoint, &update)
                .map_err(|e| anyhow::anyhow!("cannot build a request: {e}"))?,
        );
    }
    Ok(requests)
}

async fn send_all(
    client: &TargetClient,
    requests: Vec<PreparedRequest>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut answers = futures_util::stream::iter(requests.iter())
        .map(|request| client.send(request))
        .buffer_unordered(concurrency);
    while let Some(outcome) = answers.next().await {
        anyhow::ensure!(
            matches!(outcome, Outcome::Delivered { .. }),
            "the stand-in answered {outcome:?}"
        );
    }
    Ok(())
}

/// Runs the figure and adds its lines to `report`.
pub async fn report(
    report: &mut Report,
    stand_in: &StandIn,
    concurrency: usize,
) -> anyhow::Result<f64> {
    println!(
        "1. HTTP ceiling: TargetClient, {concurrency} in flight, {REQUESTS} requests x {RUNS}"
    );
    let stand_in_cpu =
        crate::support::proc_stats::threads_cpu_seconds(crate::support::stand_in::THREAD_NAME)?;
    let all_cpu = crate::support::proc_stats::process_cpu_seconds(std::process::id())?;
    let timing = Instant::now();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(measure(stand_in, concurrency, REQUESTS).await?);
    }
    let seconds = timing.elapsed().as_secs_f64();
    let stand_in_cpu =
        crate::support::proc_stats::threads_cpu_seconds(crate::support::stand_in::THREAD_NAME)?
            - stand_in_cpu;
    let client_cpu = crate::support::proc_stats::process_cpu_seconds(std::process::id())?
        - all_cpu
        - stand_in_cpu;
    let ceiling = median(&runs);
    report.add_with(
        "HTTP ceiling",
        ceiling,
        "req/s",
        Goal::None,
        format!(
            "runs {}; client used {:.2} cores, stand-in {:.2}",
            list(&runs, 0),
            client_cpu / seconds,
            stand_in_cpu / seconds
        ),
    );
    Ok(ceiling)
}
