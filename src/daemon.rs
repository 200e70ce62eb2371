//! `run`: open the database, take the instance lock, recover from a crash, then deliver until told
//! to stop.

use crate::clock::{Clock, Timeline};
use crate::config::{ClientCode, Settings, Token};
use crate::db::{self, Durability, InstanceLock, OpenMode};
use crate::delivery::Deliverer;
use crate::outbox;
use crate::state;
use crate::target::{Endpoint, Sandbox, TargetClient};
use crate::token_watch::TokenWatch;
use anyhow::{Context, bail};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where rows are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Target itself, as configured.
    Target,
    /// The built-in stand-in on loopback: nothing reaches Adobe.
    Sandbox,
}

/// Client code used in the sandbox when none is configured.
const SANDBOX_CLIENT: &str = "sandbox";

/// Runs the daemon until `stop` is cancelled, then returns once every claimed row is recorded.
pub async fn run(
    settings: Settings,
    destination: Destination,
    clock: Clock,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let database = settings.database.path.clone();
    if destination == Destination::Target && settings.target.client_code.is_none() {
        bail!(
            "target.client_code is not set: set it in the config file or with \
             PROFILE_OUTBOX__TARGET__CLIENT_CODE, or use `run --sandbox` to try the daemon \
             against a local stand-in"
        );
    }
    let token = match &settings.target.token_file {
        Some(path) => Token::read_file(path)?,
        None => None,
    };
    // The folder must exist before the lock file can be made in it; opening creates both.
    let pool = db::open(
        &database,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        settings.database.busy_timeout,
        4,
    )
    .await?;
    let _lock = InstanceLock::acquire(&database)?;
    db::migrate(&pool, &database).await?;
    let saved = state::saved_anchor(&pool)
        .await
        .context("cannot read the daemon's saved state")?;
    let timeline = Timeline::resume(clock, saved.as_ref());
    state::started(&pool, &timeline)
        .await
        .context("cannot record the daemon's start")?;
    let released = outbox::release_in_flight(&pool, timeline.now_ms())
        .await
        .context("cannot return rows left in flight to pending")?;
    if released > 0 {
        tracing::warn!(
            rows = released,
            "rows left in flight by an earlier run are pending again and will be sent again"
        );
    }

    let stand_in_stop = CancellationToken::new();
    let endpoint = match destination {
        Destination::Target => {
            let base = settings
                .target
                .endpoint_base()
                .context("target.client_code is not set")?;
            let code = settings
                .target
                .client_code
                .as_ref()
                .map(ClientCode::as_str)
                .context("target.client_code is not set")?;
            tracing::info!(target = %base, "delivering to Adobe Target");
            Endpoint::new(&base, code, settings.target.method)
        }
        Destination::Sandbox => {
            let sandbox = Sandbox::start(stand_in_stop.clone()).await?;
            let base = sandbox.base_url()?;
            tracing::warn!(
                stand_in = %base,
                "SANDBOX: delivering to a local stand-in for Target; NOTHING REACHES ADOBE, and rows \
                 marked delivered were not sent to Target"
            );
            Endpoint::new(&base, SANDBOX_CLIENT, settings.target.method)
        }
    };
    let concurrency = usize::try_from(settings.workers.concurrency.get()).unwrap_or(1);
    let client = TargetClient::new(settings.target.timeout, concurrency, token.clone())?;
    let deliverer = Arc::new(Deliverer::new(
        pool.clone(),
        client,
        endpoint,
        &settings,
        timeline,
    ));
    let watch = TokenWatch::new(settings.target.token_file.clone(), token);
    let (watched, watch_stop) = (deliverer.clone(), stop.clone());
    tokio::spawn(async move {
        if let Err(e) = watch.run(watched, watch_stop).await {
            tracing::error!(error = %e, "cannot watch the token file; restart to pick up a new token");
        }
    });
    tracing::info!(database = %database.display(), "delivering rows from the outbox");
    deliverer.run(&stop).await;
    stand_in_stop.cancel();
    if let Err(e) = state::stopped(&pool).await {
        tracing::warn!(error = %e, "cannot record the stop in the database");
    }
    pool.close().await;
    tracing::info!("stopped; every claimed row is recorded");
    Ok(())
}
