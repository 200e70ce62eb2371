//! Start-up: open the database, take the instance lock, bring the schema up to date, continue the
//! timeline, install the pending-rows cap, and hand back rows a crash left in flight.

use crate::clock::{Clock, Timeline};
use crate::config::Settings;
use crate::db::{self, Durability, InstanceLock, OpenMode};
use crate::{housekeeping, outbox, state};
use anyhow::Context;
use sqlx::SqlitePool;

/// What start-up leaves for the rest of the run.
pub struct Started {
    pub pool: SqlitePool,
    /// Held until the daemon exits.
    pub lock: InstanceLock,
    pub timeline: Timeline,
    /// The end of a slow-down pause the last run was keeping (timeline ms), if any.
    pub slow_down_until: Option<i64>,
}

pub async fn start(settings: &Settings, clock: Clock) -> anyhow::Result<Started> {
    let database = &settings.database.path;
    // The folder must exist before the lock file can be made in it; opening creates both.
    let pool = db::open(
        database,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        settings.database.busy_timeout,
        4,
    )
    .await?;
    let lock = InstanceLock::acquire(database)?;
    db::migrate(&pool, database).await?;
    let saved = state::saved_anchor(&pool)
        .await
        .context("cannot read the daemon's saved state")?;
    let timeline = Timeline::resume(clock, saved.as_ref());
    let slow_down_until = state::saved_slow_down(&pool)
        .await
        .context("cannot read the pause the last run was keeping")?;
    state::started(&pool, &timeline)
        .await
        .context("cannot record the daemon's start")?;
    housekeeping::apply_pending_limit(&pool, settings.database.max_pending_rows)
        .await
        .context("cannot apply database.max_pending_rows")?;
    let released = outbox::release_in_flight(&pool, timeline.now_ms())
        .await
        .context("cannot return rows left in flight to pending")?;
    if released > 0 {
        tracing::warn!(
            rows = released,
            "rows left in flight by an earlier run are pending again and will be sent again"
        );
    }
    Ok(Started {
        pool,
        lock,
        timeline,
        slow_down_until,
    })
}
