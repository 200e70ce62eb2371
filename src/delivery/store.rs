//! The store: every read and write delivery makes to the outbox database (look for due rows,
//! read the quota, claim, reserve, record), with this process's writes taking turns. With a quota
//! pool (`[quota.pool]`), the quota is read, reserved and refunded through it instead of the
//! local ledger.

use crate::housekeeping::WalCheckpointer;
use crate::outbox::{self, Claimed, profiles};
use crate::quota::pool::{PoolQuota, PoolReservation};
use crate::quota::{self, Reservation, Usage};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

/// Delivery's database connection and the turn its writes take.
pub struct Store {
    pool: SqlitePool,
    /// Held by this process's write transactions, one at a time, so the lanes queue here rather
    /// than in SQLite's busy handler, which sleeps a millisecond or more per try.
    write_turn: Mutex<()>,
    checkpointer: Option<WalCheckpointer>,
    /// The shared quota pool, when one is configured.
    pool_quota: Option<PoolQuota>,
}

/// Calls a round may send until `send_by` (timeline ms), and where they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub calls: i64,
    pub send_by: i64,
    from: From,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    Local(Reservation),
    Pool(PoolReservation),
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
            pool_quota: None,
        }
    }

    /// Takes the quota from `pool_quota` rather than the local ledger.
    pub(super) fn set_pool_quota(&mut self, pool_quota: PoolQuota) {
        self.pool_quota = Some(pool_quota);
    }

    /// Why the pool holds delivery back, and until when (timeline ms).
    pub fn pool_pause(&self, now: i64) -> Option<(&'static str, i64)> {
        self.pool_quota.as_ref().and_then(|q| q.pause(now))
    }

    /// With a pool, says in the log why no calls are left (see `PoolQuota::log_spent`); `false`
    /// without one.
    pub fn log_pool_spent(&self, now: i64, usage: &Usage) -> bool {
        let Some(pool_quota) = &self.pool_quota else {
            return false;
        };
        pool_quota.log_spent(now, usage);
        true
    }

    /// Wakes `checkpointer` after every recorded batch.
    pub(super) fn set_checkpointer(&mut self, checkpointer: WalCheckpointer) {
        self.checkpointer = Some(checkpointer);
    }

    /// Whether any pending row is due: a read, taking no write lock.
    pub async fn has_due(&self, now: i64) -> sqlx::Result<bool> {
        let due = outbox::has_due(&self.pool, now).await?;
        if !due && let Some(pool_quota) = &self.pool_quota {
            // Idle: calls held from the pool go back to it, once.
            pool_quota.settle_when_idle(now).await;
        }
        Ok(due)
    }

    /// The quota window as it stands.
    pub async fn usage(&self, now: i64, limit: i64) -> sqlx::Result<Usage> {
        if let Some(pool_quota) = &self.pool_quota {
            return pool_quota.usage(now).await;
        }
        quota::usage(&mut *self.pool.acquire().await?, now, limit).await
    }

    /// When `needed` calls will be free, if not now.
    pub async fn free_for(&self, now: i64, limit: i64, needed: i64) -> sqlx::Result<Option<i64>> {
        if let Some(pool_quota) = &self.pool_quota {
            return Ok(pool_quota.free_for(now, needed));
        }
        quota::free_for(&mut *self.pool.acquire().await?, now, limit, needed).await
    }

    /// Claims up to `visitors` visitors' due rows, grouped per visitor.
    pub async fn claim(
        &self,
        now: i64,
        visitors: u32,
        rows_per_call: u32,
    ) -> sqlx::Result<Claimed> {
        let _turn = self.write_turn.lock().await;
        outbox::claim(&self.pool, now, visitors, rows_per_call).await
    }

    /// Reserves up to `wanted` calls, as many as the window has left.
    pub async fn reserve(&self, now: i64, wanted: i64, limit: i64) -> sqlx::Result<Reserved> {
        if let Some(pool_quota) = &self.pool_quota {
            // Not in this process's write turn: a grant may wait up to 2 s for the pool, and the
            // other lane's record must not wait for it.
            let r = pool_quota.reserve(now, wanted).await?;
            return Ok(Reserved {
                calls: r.calls,
                send_by: r.send_by,
                from: From::Pool(r),
            });
        }
        let _turn = self.write_turn.lock().await;
        let r = quota::reserve(&self.pool, now, wanted, limit).await?;
        Ok(Reserved {
            calls: r.calls,
            send_by: r.send_by,
            from: From::Local(r),
        })
    }

    /// Gives back `unused` calls of `reserved`, inside the round's record transaction.
    pub async fn refund(
        &self,
        tx: &mut SqliteConnection,
        reserved: Reserved,
        unused: i64,
    ) -> sqlx::Result<()> {
        match (reserved.from, &self.pool_quota) {
            (From::Local(r), _) => quota::refund(tx, r, unused).await,
            (From::Pool(r), Some(pool_quota)) => pool_quota.refund(tx, r, unused).await,
            // Unreachable: pool reservations come only from a store with a pool.
            (From::Pool(_), None) => Ok(()),
        }
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
