//! Checkpoints the WAL after each batch delivery records, on a connection other than delivery's,
//! so copying the batch's pages into the database file (and the fsync that follows) runs
//! alongside the next batch instead of inside a delivery commit. Delivery's own connection then
//! checkpoints only as a backstop (`db::DELIVERY_AUTOCHECKPOINT_PAGES`).
//!
//! The WAL stays about one batch long, so a producer's commit seldom finds it past the 1,000
//! pages at which SQLite makes the committing connection checkpoint. A checkpoint also runs every
//! minute, for the small writes of an idle daemon (its visible state, once a second).

use sqlx::SqlitePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the WAL is checkpointed when no batch asks for it.
const IDLE_EVERY: Duration = Duration::from_secs(60);

/// A handle on the background checkpointer. Cheap to clone; clones wake the same task.
#[derive(Clone, Debug, Default)]
pub struct WalCheckpointer {
    wake: Arc<Notify>,
}

impl WalCheckpointer {
    /// Starts the checkpointer on `pool` (not delivery's connection); it ends when `stop` is
    /// cancelled.
    pub fn spawn(pool: SqlitePool, stop: CancellationToken) -> WalCheckpointer {
        let checkpointer = WalCheckpointer::default();
        let wake = checkpointer.wake.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(IDLE_EVERY) => {}
                    () = stop.cancelled() => return,
                }
                // PASSIVE: copies what it can without waiting for readers or writers.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "background WAL checkpoint failed; the next batch tries again");
                }
            }
        });
        checkpointer
    }

    /// Says a batch has been committed. Wake-ups while a checkpoint runs collapse into one.
    pub fn batch_written(&self) {
        self.wake.notify_one();
    }
}
