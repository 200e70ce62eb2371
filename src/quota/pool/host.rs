//! This host's side of the pool: grants held in memory and handed to delivery's rounds, unused
//! calls given back with the next grant, and the offline share when the pool cannot be reached.
//!
//! Every time here is the daemon's timeline (elapsed time only). A grant's deadline is placed at
//! `now + remaining`, where `now` was read before the request left, so it falls no later than
//! the database's own deadline for those calls. Refunds sent with a grant whose answer is lost
//! are dropped, never sent twice: a lost refund wastes capacity, a doubled one would overspend.

use super::view;
use super::{Grant, GrantRequest, Member, OfflineLedger, OfflineReport, POOL_TIMEOUT, PoolError};
use crate::config::{PoolSettings, Settings};
use crate::quota::{Reservation, Usage};
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{SqliteConnection, SqlitePool};
use std::sync::{Mutex, MutexGuard};
use telling::ViewKey;

mod telling;

/// After the pool failed to answer: how long to run on the offline share before asking again.
const RETRY_MS: i64 = 5_000;
/// After the pool granted less than asked: how long before asking again.
const SPENT_RETRY_MS: i64 = 1_000;
/// Held calls are handed to a round only with at least this long left to send them...
const MIN_SEND_MS: i64 = 10_000;
/// ...and only this long after the grant: later, what is left goes back with the next request,
/// so capacity a host does not use soon returns to the others.
const HOLD_MS: i64 = 2_000;

/// Where a round's calls came from, so that unused ones go back there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drawn {
    /// Granted by the pool, booked in this pool bucket.
    Pool { bucket: i64 },
    /// From the offline share's ledger.
    Offline(Reservation),
}

/// Calls a round may send until `send_by` (timeline ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolReservation {
    pub calls: i64,
    pub send_by: i64,
    pub drawn: Drawn,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    bucket: i64,
    calls: i64,
    send_by: i64,
    granted_at: i64,
}

impl Held {
    fn usable(&self, now: i64) -> bool {
        self.send_by - now >= MIN_SEND_MS && now - self.granted_at < HOLD_MS
    }
}

#[derive(Default)]
struct Book {
    /// Set once the pool accepted this host (read from SQLite at start).
    member: Option<Member>,
    held: Option<Held>,
    refunds: Vec<(i64, i64)>,
    /// The pool failed or refused: not asked again before this time.
    offline_until: Option<i64>,
    /// The pool had nothing left: not asked again before this time; with the window it saw.
    spent: Option<(i64, i64, i64)>,
    /// When the pool was last asked.
    asked_at: Option<i64>,
    /// Since when this host cannot reach the pool, until it reports so with a grant.
    offline_began: Option<i64>,
    /// Whether this run reported its offline calls to the pool once (a restart may have
    /// followed time offline).
    reported: bool,
    /// Whether the pool was last told this host has work (it asked for calls).
    told_busy: bool,
    /// For the view: whether the pool answered last, since when, and the last contact.
    reachable: Option<bool>,
    reachable_since: i64,
    last_contact: Option<i64>,
    last_error: Option<String>,
    /// Offline reservations made: the view reads the offline ledger again when this moves.
    offline_reservations: u64,
}

/// The pool as this host uses it.
pub struct PoolQuota {
    host: String,
    offline_share: i64,
    /// Calls asked for at least, about a second's worth, so a busy host asks about once a second.
    chunk: i64,
    options: PgConnectOptions,
    /// Where the pool is, for logs and the view: never the password.
    address: String,
    ledger: OfflineLedger,
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    book: Mutex<Book>,
    /// When the view was last saved, and what it showed.
    published: tokio::sync::Mutex<Option<(i64, ViewKey)>>,
}

/// The pool for delivery when `[quota.pool]` names one, its offline ledger in `sqlite`.
pub async fn open_for_delivery(
    settings: &Settings,
    sqlite: &SqlitePool,
) -> anyhow::Result<Option<PoolQuota>> {
    let Some(pool) = &settings.quota.pool else {
        view::forget(sqlite)
            .await
            .context("cannot clear the quota pool's view in the database")?;
        return Ok(None);
    };
    // About a second's worth of calls at the configured rate.
    let chunk =
        i64::from(settings.quota.max_per_second.get()) + i64::from(settings.quota.burst.get());
    let address = super::address(&pool.url);
    let quota = PoolQuota::open(pool, sqlite.clone(), chunk)
        .await
        .with_context(|| format!("cannot prepare the quota pool at {address}"))?;
    tracing::info!(host = %pool.host, pool = %address, offline_share = pool.offline_share,
        "quota from the pool shared with other hosts");
    Ok(Some(quota))
}

impl PoolQuota {
    /// Prepares the offline ledger in `sqlite` and reads this host's membership.
    pub async fn open(
        settings: &PoolSettings,
        sqlite: SqlitePool,
        chunk: i64,
    ) -> anyhow::Result<PoolQuota> {
        let options = super::connect_options(settings)?;
        view::prepare(&sqlite).await?;
        let ledger = OfflineLedger::open(sqlite).await?;
        let member = ledger.member().await?.filter(|m| m.host == settings.host);
        Ok(PoolQuota {
            host: settings.host.clone(),
            offline_share: settings.offline_share,
            chunk: chunk.max(1),
            options,
            address: super::address(&settings.url),
            ledger,
            conn: tokio::sync::Mutex::new(None),
            book: Mutex::new(Book {
                member,
                ..Book::default()
            }),
            published: tokio::sync::Mutex::new(None),
        })
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while holding this lock leaves plain numbers behind, still consistent.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Up to `wanted` calls at `now`: from the held grant, a new grant, or the offline share.
    pub async fn reserve(&self, now: i64, wanted: i64) -> sqlx::Result<PoolReservation> {
        let reserved = self.reserve_now(now, wanted).await;
        self.publish(now).await;
        reserved
    }

    async fn reserve_now(&self, now: i64, wanted: i64) -> sqlx::Result<PoolReservation> {
        if let Some(taken) = self.book().take_held(now, wanted, false) {
            return Ok(taken);
        }
        if self.book().offline_until.is_some_and(|t| t > now) {
            return self.reserve_offline(now, wanted).await;
        }
        if self.book().spent.is_some_and(|(t, _, _)| t > now) {
            return Ok(nothing(now));
        }
        let mut conn = self.conn.lock().await;
        // The other lane may have been granted calls while this one waited for the connection.
        let refunds = {
            let mut book = self.book();
            if let Some(taken) = book.take_held(now, wanted, false) {
                return Ok(taken);
            }
            book.refunds_due()
        };
        let asked = wanted.max(self.chunk);
        self.book().asked_at = Some(now);
        let report = self.offline_report(now).await;
        match self.ask(&mut conn, asked, &refunds, report).await {
            Ok(grant) => {
                self.contacted(now, true);
                self.granted(now, wanted, asked, grant).await
            }
            Err(error) => {
                *conn = None;
                self.failed(now, &error);
                self.reserve_offline(now, wanted).await
            }
        }
    }

    async fn ask(
        &self,
        conn: &mut Option<PgConnection>,
        wanted: i64,
        refunds: &[(i64, i64)],
        offline: Option<OfflineReport>,
    ) -> Result<Grant, PoolError> {
        let request = GrantRequest {
            refunds,
            offline,
            ..GrantRequest::new(&self.host, wanted, self.offline_share)
        };
        let exchange = async {
            let connection = match conn {
                Some(connection) => connection,
                None => conn.insert(super::connect(&self.options).await?),
            };
            super::grant(connection, &request).await
        };
        tokio::time::timeout(POOL_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(PoolError::Timeout(POOL_TIMEOUT)))
    }

    async fn granted(
        &self,
        now: i64,
        wanted: i64,
        asked: i64,
        grant: Grant,
    ) -> sqlx::Result<PoolReservation> {
        let member = Member {
            pool_id: grant.pool_id.clone(),
            host: self.host.clone(),
            offline_share: grant.accepted_share,
        };
        let (taken, joined) = {
            let mut book = self.book();
            if book.offline_until.take().is_some() {
                tracing::info!(host = %self.host, "quota pool reachable again");
            }
            book.spent = (grant.calls < asked).then_some((
                now + SPENT_RETRY_MS,
                grant.granted_in_window,
                grant.shareable,
            ));
            book.held = Some(Held {
                bucket: grant.bucket,
                calls: grant.calls,
                send_by: now + grant.remaining_ms,
                granted_at: now,
            });
            let joined = book.member.as_ref() != Some(&member);
            book.member = Some(member.clone());
            (book.take_held(now, wanted, true), joined)
        };
        if joined {
            self.ledger.save_member(&member).await?;
        }
        Ok(taken.unwrap_or_else(|| nothing(now)))
    }

    /// The pool answered at `now`; `busy` when this host asked it for calls.
    fn contacted(&self, now: i64, busy: bool) {
        let mut book = self.book();
        book.told_busy = busy;
        book.offline_began = None;
        book.reported = true;
        book.last_contact = Some(now);
        book.last_error = None;
        if book.reachable != Some(true) {
            book.reachable = Some(true);
            book.reachable_since = now;
        }
    }

    fn failed(&self, now: i64, error: &PoolError) {
        let mut book = self.book();
        book.offline_began.get_or_insert(now);
        book.last_error = Some(error.to_string());
        if book.reachable != Some(false) {
            book.reachable = Some(false);
            book.reachable_since = now;
        }
        let refused = matches!(
            error,
            PoolError::NotInitialised | PoolError::ShareDoesNotFit { .. }
        );
        if refused {
            // Whatever this host joined before is gone or was never there: no offline share.
            book.member = None;
        }
        if book.offline_until.is_none() {
            match &book.member {
                Some(member) => tracing::warn!(
                    host = %self.host, pool = %self.address, share = member.offline_share, %error,
                    "quota pool at {} unreachable: delivering within this host's offline share",
                    self.address
                ),
                None => tracing::warn!(
                    host = %self.host, pool = %self.address, %error,
                    "quota pool at {} unreachable and this host was never accepted into it: \
                     sending nothing until it answers",
                    self.address
                ),
            }
        }
        book.held = None;
        book.offline_until = Some(now + RETRY_MS);
    }

    fn offline_share(&self) -> Option<i64> {
        let book = self.book();
        book.member
            .as_ref()
            .map(|m| m.offline_share.min(self.offline_share))
    }

    async fn reserve_offline(&self, now: i64, wanted: i64) -> sqlx::Result<PoolReservation> {
        let Some(share) = self.offline_share() else {
            return Ok(nothing(now));
        };
        let reservation = self.ledger.reserve(now, wanted, share).await?;
        self.book().offline_reservations += 1;
        Ok(PoolReservation {
            calls: reservation.calls,
            send_by: reservation.send_by,
            drawn: Drawn::Offline(reservation),
        })
    }

    /// Gives back calls a round did not send, inside the round's record transaction: pool calls
    /// to the held grant or the next grant's refunds (no round trip), offline calls to the ledger.
    pub async fn refund(
        &self,
        conn: &mut SqliteConnection,
        reservation: PoolReservation,
        unused: i64,
    ) -> sqlx::Result<()> {
        let unused = unused.min(reservation.calls);
        if unused <= 0 {
            return Ok(());
        }
        match reservation.drawn {
            Drawn::Pool { bucket } => {
                self.book().give_back(bucket, unused);
                Ok(())
            }
            Drawn::Offline(booked) => super::offline::refund_offline(conn, booked, unused).await,
        }
    }

    /// While delivery is idle: gives back held and unused calls and tells the pool this host
    /// has gone idle, in one round trip a second after the last one, and then asks nothing
    /// more until the next grant.
    pub async fn settle_when_idle(&self, now: i64) {
        let due = {
            let book = self.book();
            let owed = book.held.is_some_and(|h| h.calls > 0) || !book.refunds.is_empty();
            let recent = book.asked_at.is_some_and(|t| now - t < 1_000);
            let offline = book.offline_until.is_some_and(|t| t > now);
            (owed || book.told_busy) && !recent && !offline
        };
        if due {
            let mut conn = self.conn.lock().await;
            let refunds = self.book().refunds_due();
            self.book().asked_at = Some(now);
            let report = self.offline_report(now).await;
            match self.ask(&mut conn, 0, &refunds, report).await {
                Ok(_) => self.contacted(now, false),
                Err(error) => {
                    *conn = None;
                    self.failed(now, &error);
                }
            }
        }
        self.publish(now).await;
    }

    /// What may be sent now, as delivery's round sees it.
    pub async fn usage(&self, now: i64) -> sqlx::Result<Usage> {
        let (offline_until, spent) = {
            let book = self.book();
            let held = book
                .held
                .is_some_and(|h| h.calls > 0 && h.send_by - now >= MIN_SEND_MS);
            (
                book.offline_until.filter(|t| *t > now),
                book.spent.filter(|(t, _, _)| *t > now && !held),
            )
        };
        if let Some(until) = offline_until {
            let Some(share) = self.offline_share() else {
                return Ok(spent_until(0, 0, until));
            };
            let mut usage = self.ledger.usage(now, share).await?;
            if usage.left() == 0 {
                usage.next_free_at = Some(usage.next_free_at.map_or(until, |t| t.min(until)));
            }
            return Ok(usage);
        }
        Ok(match spent {
            Some((until, used, shareable)) => spent_until(used, shareable, until),
            None => Usage {
                used: 0,
                limit: i64::from(u32::MAX),
                next_free_at: None,
            },
        })
    }

    /// When `needed` calls may be there, if not now.
    pub fn free_for(&self, now: i64, needed: i64) -> Option<i64> {
        let book = self.book();
        let held = book.held.filter(|h| h.usable(now));
        match held {
            Some(h) if h.calls >= needed => None,
            _ => Some(now + SPENT_RETRY_MS),
        }
    }

    /// Why delivery pauses because of the pool, and until when (timeline ms).
    pub fn pause(&self, now: i64) -> Option<(&'static str, i64)> {
        let book = self.book();
        match (book.offline_until.filter(|t| *t > now), &book.member) {
            (Some(until), None) => Some(("pool_unreachable", until)),
            (Some(_), Some(_)) => None,
            (None, _) => book
                .spent
                .filter(|(t, _, _)| *t > now)
                .map(|(t, _, _)| ("pool_spent", t)),
        }
    }
}

fn nothing(now: i64) -> PoolReservation {
    PoolReservation {
        calls: 0,
        send_by: now,
        drawn: Drawn::Pool { bucket: 0 },
    }
}

/// A window with nothing left until `until`: `used` calls of `limit`.
fn spent_until(used: i64, limit: i64, until: i64) -> Usage {
    Usage {
        used: used.max(limit),
        limit,
        next_free_at: Some(until),
    }
}

impl Book {
    /// Takes `wanted` calls from the held grant while it has long enough left to send them; all
    /// it has, when `partly`, else nothing unless it has them all.
    fn take_held(&mut self, now: i64, wanted: i64, partly: bool) -> Option<PoolReservation> {
        let held = self.held.as_mut()?;
        let calls = if partly {
            wanted.min(held.calls)
        } else {
            wanted
        };
        if !held.usable(now) || held.calls < calls || calls <= 0 {
            return None;
        }
        held.calls -= calls;
        Some(PoolReservation {
            calls,
            send_by: held.send_by,
            drawn: Drawn::Pool {
                bucket: held.bucket,
            },
        })
    }

    /// The refunds to send with the next grant, with whatever the held grant has left.
    fn refunds_due(&mut self) -> Vec<(i64, i64)> {
        if let Some(held) = self.held.take().filter(|h| h.calls > 0) {
            self.give_back(held.bucket, held.calls);
        }
        std::mem::take(&mut self.refunds)
    }

    fn give_back(&mut self, bucket: i64, calls: i64) {
        match self.held.as_mut() {
            Some(held) if held.bucket == bucket => held.calls += calls,
            _ => match self.refunds.iter_mut().find(|(b, _)| *b == bucket) {
                Some((_, owed)) => *owed += calls,
                None => self.refunds.push((bucket, calls)),
            },
        }
    }
}
