//! What the admin commands know about the daemon: whether one holds this database's lock now, and
//! the state row it last saved (`daemon_state`, written by `crate::state`).

use super::open::Database;
use super::time::TimeFrame;
use crate::clock::{Anchor, Clock};
use crate::db;
use anyhow::Context;
use sqlx::SqliteConnection;

/// The `daemon_state` row as saved. `*_at` times are wall-clock milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SavedState {
    pub timeline_ms: i64,
    pub wall_ms: i64,
    pub boot_id: String,
    pub boot_ms: i64,
    pub pid: Option<i64>,
    pub started_at: Option<i64>,
    pub heartbeat_at: Option<i64>,
    pub quota_limit: Option<i64>,
    pub calls_in_window: Option<i64>,
    pub next_call_at: Option<i64>,
    pub pause_reason: Option<String>,
    pub paused_until: Option<i64>,
    pub circuit: String,
    pub last_delivery_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

impl SavedState {
    pub fn anchor(&self) -> Anchor {
        Anchor {
            timeline_ms: self.timeline_ms,
            wall_ms: self.wall_ms,
            boot_id: self.boot_id.clone(),
            boot_ms: self.boot_ms,
        }
    }
}

/// The daemon as the admin commands see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonView {
    /// A daemon holds the instance lock on this database now.
    pub running: bool,
    /// What the daemon (running or not) saved last; `None` when no daemon ever ran here.
    pub saved: Option<SavedState>,
}

impl DaemonView {
    /// The pause a running daemon reports, other than a spent quota (which the commands work out
    /// from the ledger themselves). A stopped daemon pauses nothing: its next run starts afresh.
    pub fn pause(&self) -> Option<(&str, Option<i64>)> {
        let saved = self.saved.as_ref().filter(|_| self.running)?;
        let reason = saved.pause_reason.as_deref()?;
        (reason != "quota_spent").then_some((reason, saved.paused_until))
    }
}

impl DaemonView {
    /// Reads whether a daemon runs on `db` and what it saved, the latter on `conn` (inside the
    /// caller's read transaction, when it has one).
    pub async fn observe(db: &Database, conn: &mut SqliteConnection) -> anyhow::Result<DaemonView> {
        let running = db::is_held(&db.path)
            .with_context(|| format!("cannot check the lock of database {}", db.path.display()))?;
        let saved = read_saved(conn)
            .await
            .with_context(|| format!("cannot read daemon_state in {}", db.path.display()))?;
        Ok(DaemonView { running, saved })
    }

    /// Times as this daemon converts them.
    pub fn frame(&self, clock: Clock) -> TimeFrame {
        let anchor = self.saved.as_ref().map(SavedState::anchor);
        TimeFrame::new(clock, anchor.as_ref(), self.running)
    }
}

/// Times for `db`, for commands that need nothing else about the daemon.
pub async fn frame(db: &Database, clock: Clock) -> anyhow::Result<TimeFrame> {
    let mut conn = db.pool.acquire().await?;
    Ok(DaemonView::observe(db, &mut conn).await?.frame(clock))
}

/// Reads the `daemon_state` row, if a daemon ever saved one.
pub async fn read_saved(conn: &mut SqliteConnection) -> sqlx::Result<Option<SavedState>> {
    sqlx::query_as(
        "SELECT timeline_ms, wall_ms, boot_id, boot_ms, pid, started_at, heartbeat_at, quota_limit,
                calls_in_window, next_call_at, pause_reason, paused_until, circuit,
                last_delivery_at, last_error, last_error_at
         FROM daemon_state WHERE id = 1",
    )
    .fetch_optional(conn)
    .await
}
