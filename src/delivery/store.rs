//! The store: every read and write delivery makes to the outbox database (look for due rows,
//! read the quota, claim, reserve, record), with this process's writes taking turns.

use crate::housekeeping::WalCheckpointer;
use crate::outbox::{self, ClaimedRow, profiles};
use crate::quota::{self, Reservation, Usage};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

/// Delivery's database connection and the turn its writes take.
pub struct Store {
    pool: SqlitePool,
    /// Held by this process's write transactions, one at a time, so the lanes queue here rather
    /// than in SQLite's busy handler, which sleeps a millisecond or more per try.
    write_turn: Mutex<()>,
    checkpointer: Option<WalCheckpointer>,
}

/// A write transaction holding this process's turn; dropping it uncommitted rolls it back.
pub struct Write<'a> {
    pub tx: Transaction<'static, Sqlite>,
    _turn: MutexGuard<'a, ()>,
}

impl Write<'_> {
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
}

impl Store {
    pub fn new(pool: SqlitePool) -> Store {
        Store {
            pool,
            write_turn: Mutex::new(()),
            checkpointer: None,
        }
    }

    /// Wakes `checkpointer` after every recorded batch.
    pub(super) fn set_checkpointer(&mut self, checkpointer: WalCheckpointer) {
        self.checkpointer = Some(checkpointer);
    }

    /// Whether any pending row is due: a read, taking no write lock.
    pub async fn has_due(&self, now: i64) -> sqlx::Result<bool> {
        outbox::has_due(&self.pool, now).await
    }

    /// The quota window as it stands.
    pub async fn usage(&self, now: i64, limit: i64) -> sqlx::Result<Usage> {
        quota::usage(&mut *self.pool.acquire().await?, now, limit).await
    }

    /// When `needed` calls will be free, if not now.
    pub async fn free_for(&self, now: i64, limit: i64, needed: i64) -> sqlx::Result<Option<i64>> {
        quota::free_for(&mut *self.pool.acquire().await?, now, limit, needed).await
    }

    /// Claims up to `visitors` visitors' due rows, grouped per visitor.
    pub async fn claim(
        &self,
        now: i64,
        visitors: u32,
        rows_per_call: u32,
    ) -> sqlx::Result<Vec<Vec<ClaimedRow>>> {
        let _turn = self.write_turn.lock().await;
        outbox::claim(&self.pool, now, visitors, rows_per_call).await
    }

    /// Reserves up to `wanted` calls, as many as the window has left.
    pub async fn reserve(&self, now: i64, wanted: i64, limit: i64) -> sqlx::Result<Reservation> {
        let _turn = self.write_turn.lock().await;
        quota::reserve(&self.pool, now, wanted, limit).await
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE`) in this process's turn.
    pub async fn write(&self) -> sqlx::Result<Write<'_>> {
        let turn = self.write_turn.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Write { tx, _turn: turn })
    }

    /// Lets the checkpointer know a batch was written.
    pub fn batch_written(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.batch_written();
        }
    }

    /// Which of `visitors` were found to have a profile lately.
    pub async fn known_profiles(
        &self,
        visitors: &[String],
        now: i64,
    ) -> sqlx::Result<std::collections::HashSet<String>> {
        profiles::known(&self.pool, visitors, now).await
    }

    /// Records a round's profile lookups: the visitors found, and each visitor found missing,
    /// returning the missing records as they now stand, in the order given.
    pub async fn profiles_looked_up(
        &self,
        found: &[String],
        missing: &[String],
        now: i64,
    ) -> sqlx::Result<Vec<profiles::Missing>> {
        let mut write = self.write().await?;
        profiles::found(&mut write.tx, found, now).await?;
        let mut records = Vec::with_capacity(missing.len());
        for visitor in missing {
            records.push(profiles::missed(&mut write.tx, visitor, now).await?);
        }
        write.commit().await?;
        Ok(records)
    }

    /// Hands every row left `in_flight` back to pending.
    pub async fn release_in_flight(&self, now: i64) -> sqlx::Result<u64> {
        outbox::release_in_flight(&self.pool, now).await
    }
}
