//! What this host tells about the pool: the view saved for `status` and `/metrics`, the log line
//! when delivery has no calls, and the report of its time offline that rides on a grant.

use super::super::OfflineReport;
use super::super::view::{self, PoolView};
use super::{Book, PoolQuota};
use crate::quota::Usage;

/// The view for `status` is saved at most this often while it changes...
const VIEW_EVERY_MS: i64 = 1_000;
/// ...and this often anyway, since the offline share's calls age out of the window.
const VIEW_REFRESH_MS: i64 = 60_000;

/// What the view shows that the host knows without reading its database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ViewKey {
    reachable: Option<bool>,
    since: i64,
    held: i64,
    offline_share: Option<i64>,
    last_contact: Option<i64>,
    error: Option<String>,
    offline_reservations: u64,
}

impl PoolQuota {
    /// What to report of time offline with the next grant: after time cut off, and once a run.
    pub(super) async fn offline_report(&self, now: i64) -> Option<OfflineReport> {
        let began = {
            let book = self.book();
            if book.reported && book.offline_began.is_none() {
                return None;
            }
            book.offline_began
        };
        let calls = match self.offline_share() {
            Some(share) => match self.ledger.usage(now, share).await {
                Ok(usage) => usage.used,
                // Reported again with the next grant.
                Err(_) => return None,
            },
            None => 0,
        };
        Some(OfflineReport {
            for_ms: began.map(|t| (now - t).max(0)),
            calls,
        })
    }

    /// Saves the view for `status` and `/metrics` when it changed (at once when the pool became
    /// reachable or unreachable, else at most every second) or has not been saved for a minute.
    /// A failed write is only logged: the view is for people, delivery does not wait on it.
    pub(super) async fn publish(&self, now: i64) {
        // The other lane is saving it: this lane need not wait.
        let Ok(mut published) = self.published.try_lock() else {
            return;
        };
        let key = self.book().view_key(self.offline_share);
        let due = match &*published {
            None => true,
            Some((at, last)) => {
                (*last != key && (last.reachable != key.reachable || now - at >= VIEW_EVERY_MS))
                    || now - at >= VIEW_REFRESH_MS
            }
        };
        if !due {
            return;
        }
        let saved = async {
            let offline_used = match key.offline_share {
                Some(share) => self.ledger.usage(now, share).await?.used,
                None => 0,
            };
            let shown = PoolView {
                pool: self.address.clone(),
                host: self.host.clone(),
                reachable: key.reachable,
                since_ms: key.since,
                held: key.held,
                offline_share: key.offline_share,
                offline_used,
                last_contact_ms: key.last_contact,
                error: key.error.clone(),
            };
            view::save(self.ledger.database(), &shown).await
        };
        match saved.await {
            Ok(()) => *published = Some((now, key)),
            Err(e) => tracing::debug!(error = %e, "cannot save the quota pool's view"),
        }
    }

    /// Says in the log why delivery has no calls now: the pool cannot be reached and the
    /// offline share is spent (or there is none), or the pool has nothing left to grant.
    pub fn log_spent(&self, now: i64, usage: &Usage) {
        let book = self.book();
        let offline = book.offline_until.is_some_and(|t| t > now);
        let pool = &self.address;
        match (offline, &book.member) {
            (true, Some(member)) => tracing::warn!(
                host = %self.host, %pool, calls = usage.used, share = member.offline_share,
                "quota pool at {pool} unreachable: this host's offline share is spent ({} of {} \
                 calls in the last 24 hours, 0 left); delivery resumes when the pool answers \
                 again (asked every few seconds) or as offline calls age out",
                usage.used, usage.limit
            ),
            (true, None) => tracing::warn!(
                host = %self.host, %pool,
                "quota pool at {pool} unreachable and this host was never accepted into it: \
                 sending nothing until it answers"
            ),
            (false, _) => tracing::warn!(
                host = %self.host, %pool, calls = usage.used, shareable = usage.limit,
                "the quota pool at {pool} has no calls left to grant ({} of the {} it may grant \
                 are granted in the last 24 hours); asking it again every second",
                usage.used, usage.limit
            ),
        }
    }
}

impl Book {
    fn view_key(&self, configured_share: i64) -> ViewKey {
        let held = self.held.map_or(0, |h| h.calls) + self.refunds.iter().map(|r| r.1).sum::<i64>();
        ViewKey {
            reachable: self.reachable,
            since: self.reachable_since,
            held,
            offline_share: self
                .member
                .as_ref()
                .map(|m| m.offline_share.min(configured_share)),
            last_contact: self.last_contact,
            error: self.last_error.clone(),
            offline_reservations: self.offline_reservations,
        }
    }
}
