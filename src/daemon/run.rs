//! The running daemon: the delivery loop and the tasks around it (token watch, housekeeping,
//! metrics, systemd status), all stopped by one cancellation token.

use super::endpoint::{self, Destination};
use super::start::{Started, start};
use super::{status_line, watchdog};
use crate::adobe::TargetClient;
use crate::clock::Clock;
use crate::config::{Settings, Token};
use crate::db;
use crate::delivery::{CrashPlan, Deliverer};
use crate::housekeeping::{self, WalCheckpointer};
use crate::metrics::{self, Metrics};
use crate::state;
use crate::systemd::Notifier;
use crate::token_watch::TokenWatch;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Runs the daemon until `stop` is cancelled, then returns once every claimed row is recorded.
pub async fn run(
    settings: Settings,
    destination: Destination,
    clock: Clock,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    endpoint::check(&settings, destination)?;
    let token = match &settings.target.token_file {
        Some(path) => Token::read_file(path)?,
        None => None,
    };
    let Started {
        pool,
        lock,
        timeline,
        slow_down_until,
    } = start(&settings, clock).await?;
    // Tasks around delivery stop only after it has recorded its last batch.
    let after_delivery = CancellationToken::new();
    let endpoint = endpoint::endpoint(&settings, destination, after_delivery.clone()).await?;
    let metrics = Arc::new(Metrics::default());
    if settings.metrics.enabled {
        let address = metrics::serve(
            settings.metrics.listen,
            pool.clone(),
            metrics.clone(),
            after_delivery.clone(),
        )
        .await?;
        tracing::info!(%address, "metrics at /metrics, health at /healthz");
    }
    let concurrency = usize::try_from(settings.workers.concurrency.get()).unwrap_or(1);
    let client = TargetClient::trusting(
        settings.target.timeout,
        concurrency,
        token.clone(),
        settings.target.ca_file.as_deref(),
    )?;
    let delivery_pool =
        db::open_for_delivery(&settings.database.path, settings.database.busy_timeout).await?;
    let checkpointer = WalCheckpointer::spawn(pool.clone(), after_delivery.clone());
    let pool_quota = crate::quota::pool::open_for_delivery(&settings, &delivery_pool).await?;
    let deliverer = Arc::new(
        Deliverer::new(delivery_pool, client, endpoint, &settings, timeline.clone())
            .with_metrics(metrics)
            .with_checkpointer(checkpointer)
            .with_pool_quota(pool_quota)
            .with_crash_plan(CrashPlan::from_env()),
    );
    if let Some(until) = slow_down_until {
        deliverer.resume_requested_pause(until);
    }
    spawn_token_watch(
        TokenWatch::new(settings.target.token_file.clone(), token),
        deliverer.clone(),
        after_delivery.clone(),
    );
    tokio::spawn(housekeeping::run(
        pool.clone(),
        timeline,
        settings.database.retention,
        after_delivery.clone(),
    ));
    let notifier = Arc::new(Mutex::new(Notifier::from_env()));
    tokio::spawn(status_line::run(
        pool.clone(),
        notifier.clone(),
        after_delivery.clone(),
    ));

    tracing::info!(database = %settings.database.path.display(), lock = %lock.path().display(), "delivering rows from the outbox");
    notify(&notifier, |n| n.ready());
    watchdog::spawn(
        notifier.clone(),
        deliverer.heartbeat(),
        after_delivery.clone(),
    );
    deliverer.run(&stop).await;
    notify(&notifier, |n| n.stopping());
    after_delivery.cancel();
    if let Err(e) = state::stopped(&pool).await {
        tracing::warn!(error = %e, "cannot record the stop in the database");
    }
    pool.close().await;
    tracing::info!("stopped; every claimed row is recorded");
    Ok(())
}

pub(super) fn notify(notifier: &Mutex<Notifier>, message: impl FnOnce(&mut Notifier)) {
    if let Ok(mut notifier) = notifier.lock() {
        message(&mut notifier);
    }
}

fn spawn_token_watch(watch: TokenWatch, deliverer: Arc<Deliverer>, stop: CancellationToken) {
    tokio::spawn(async move {
        if let Err(e) = watch.run(deliverer, stop).await {
            tracing::error!(error = %e, "cannot watch the token file; restart to pick up a new token");
        }
    });
}
