//! The queue's figures, one source for `status`, systemd's status line and `/metrics`: rows per
//! state, read from the counts migration 0007's triggers keep as rows change, and the pending rows'
//! schedule, read by seeks into `outbox_pending` and `outbox_due`. No figure counts the table or a
//! state's index, so reading them costs the same with ten thousand rows as with ten million. The
//! one count left, rows due now, counts the smaller side of now in `outbox_due` (docs/schema.md,
//! "Figures").

use sqlx::{Row, SqliteConnection};

/// Rows per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: i64,
    pub in_flight: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Of the failed rows, those that failed because Target has no profile for their visitor.
    pub failed_no_profile: i64,
    pub cancelled: i64,
}

impl Counts {
    /// Rows not finished: pending or in flight.
    pub fn waiting(&self) -> i64 {
        self.pending + self.in_flight
    }

    /// The count of `state` (`outbox::State::as_str`), 0 for a name that is not a state.
    pub fn of(&self, state: &str) -> i64 {
        match state {
            "pending" => self.pending,
            "in_flight" => self.in_flight,
            "delivered" => self.delivered,
            "failed" => self.failed,
            "cancelled" => self.cancelled,
            _ => 0,
        }
    }
}

/// The kept counts: six rows of `outbox_counts`, one lookup.
pub const COUNTS: &str = "SELECT kind, rows FROM outbox_counts";

/// Reads the kept counts.
pub async fn counts(conn: &mut SqliteConnection) -> sqlx::Result<Counts> {
    let mut counts = Counts::default();
    for row in sqlx::query(COUNTS).fetch_all(&mut *conn).await? {
        let kind: String = row.try_get(0)?;
        let rows: i64 = row.try_get(1)?;
        match kind.as_str() {
            "pending" => counts.pending = rows,
            "in_flight" => counts.in_flight = rows,
            "delivered" => counts.delivered = rows,
            "failed" => counts.failed += rows,
            "failed_no_profile" => {
                counts.failed += rows;
                counts.failed_no_profile = rows;
            }
            "cancelled" => counts.cancelled = rows,
            // The table's CHECK admits no other kind.
            _ => {}
        }
    }
    Ok(counts)
}

/// The lowest pending id: the first entry of `outbox_pending` (migration 0007), one seek.
pub const FIRST_PENDING: &str =
    "SELECT min(id) FROM outbox INDEXED BY outbox_pending WHERE state = 'pending'";

/// The lowest id in flight: the first entry of `outbox_in_flight`.
pub const FIRST_IN_FLIGHT: &str =
    "SELECT min(id) FROM outbox INDEXED BY outbox_in_flight WHERE state = 'in_flight'";

/// The earliest time after `?1` (now, on the timeline) a pending row waits for: the first entry
/// of `outbox_due` past now, one seek.
pub const NEXT_RETRY: &str = "SELECT min(next_attempt_at) FROM outbox INDEXED BY outbox_due
     WHERE state = 'pending' AND next_attempt_at > ?1";

/// Pending rows due at `?1`, counted through `outbox_due` up to `?2` of them.
pub const DUE_UP_TO: &str = "SELECT count(*) FROM (SELECT 1 FROM outbox INDEXED BY outbox_due
     WHERE state = 'pending' AND next_attempt_at <= ?1 LIMIT ?2)";

/// Pending rows waiting past `?1`, counted through `outbox_due` up to `?2` of them.
pub const LATER_UP_TO: &str = "SELECT count(*) FROM (SELECT 1 FROM outbox INDEXED BY outbox_due
     WHERE state = 'pending' AND next_attempt_at > ?1 LIMIT ?2)";

/// The first bound [`due_now`] counts to on either side of now.
const FIRST_BOUND: i64 = 4_096;

/// The pending rows' schedule at a moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The lowest-numbered pending row (the first added of those waiting): id and `created_at`.
    pub oldest: Option<(i64, i64)>,
    /// Pending rows whose time has come.
    pub due_now: i64,
    /// The earliest time (on the timeline) a pending row not due yet waits for.
    pub next_retry: Option<i64>,
}

/// The schedule at `now` (timeline ms), given the pending count read in the same transaction.
pub async fn schedule(
    conn: &mut SqliteConnection,
    pending: i64,
    now: i64,
) -> sqlx::Result<Schedule> {
    let first: Option<i64> = sqlx::query_scalar(FIRST_PENDING)
        .fetch_one(&mut *conn)
        .await?;
    let oldest = match first {
        Some(id) => created(conn, id).await?,
        None => None,
    };
    let next_retry = sqlx::query_scalar(NEXT_RETRY)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Schedule {
        oldest,
        due_now: due_now(conn, pending, now, FIRST_BOUND).await?,
        next_retry,
    })
}

/// Pending rows due at `now`. `outbox_due` splits the pending rows at now into those due and those
/// waiting; whichever side is smaller is counted (the other is the kept pending count less it),
/// found by counting both sides to a bound, from `first_bound` and growing fourfold, until one side
/// ends below it. So the cost follows the smaller side: 10 million rows due and a few waiting cost
/// a few entries.
pub(super) async fn due_now(
    conn: &mut SqliteConnection,
    pending: i64,
    now: i64,
    first_bound: i64,
) -> sqlx::Result<i64> {
    let mut bound = first_bound.max(1);
    loop {
        let due: i64 = sqlx::query_scalar(DUE_UP_TO)
            .bind(now)
            .bind(bound)
            .fetch_one(&mut *conn)
            .await?;
        if due < bound {
            return Ok(due);
        }
        let later: i64 = sqlx::query_scalar(LATER_UP_TO)
            .bind(now)
            .bind(bound)
            .fetch_one(&mut *conn)
            .await?;
        if later < bound {
            return Ok((pending - later).max(0));
        }
        bound = bound.saturating_mul(4);
    }
}

/// The oldest row not finished (pending or in flight): id and `created_at`. Ids grow with
/// insertion, so the lowest id is the first added.
pub async fn oldest_waiting(conn: &mut SqliteConnection) -> sqlx::Result<Option<(i64, i64)>> {
    let first_pending: Option<i64> = sqlx::query_scalar(FIRST_PENDING)
        .fetch_one(&mut *conn)
        .await?;
    let first_in_flight: Option<i64> = sqlx::query_scalar(FIRST_IN_FLIGHT)
        .fetch_one(&mut *conn)
        .await?;
    match lowest(first_pending, first_in_flight) {
        Some(id) => created(conn, id).await,
        None => Ok(None),
    }
}

fn lowest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A row's id and `created_at`, by its rowid.
pub const CREATED: &str = "SELECT id, created_at FROM outbox WHERE id = ?1";

/// `(id, created_at)` of row `id`.
async fn created(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as(CREATED).bind(id).fetch_optional(conn).await
}

/// The newest failed rows' ids, newest first, at most five: the end of `outbox_failed`.
pub const NEWEST_FAILED: &str = "SELECT id FROM outbox INDEXED BY outbox_failed
     WHERE state = 'failed' ORDER BY id DESC LIMIT 5";

#[cfg(test)]
mod tests {
    use super::*;

    /// EXPLAIN QUERY PLAN's details (its rows are id, parent, notused, detail).
    async fn plan(conn: &mut SqliteConnection, sql: &str) -> Vec<String> {
        sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind(0_i64)
            .fetch_all(conn)
            .await
            .expect("plan")
            .iter()
            .map(|r| r.try_get::<String, _>(3).unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn every_figure_reads_the_kept_counts_or_an_index_never_the_whole_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::scratch::migrated(dir.path()).await;
        let mut conn = pool.acquire().await.expect("connection");
        for (sql, wanted) in [
            (COUNTS, "SCAN outbox_counts"),
            (
                FIRST_PENDING,
                "SEARCH outbox USING COVERING INDEX outbox_pending",
            ),
            (
                FIRST_IN_FLIGHT,
                "SEARCH outbox USING COVERING INDEX outbox_in_flight",
            ),
            (
                NEXT_RETRY,
                "SEARCH outbox USING COVERING INDEX outbox_due (next_attempt_at>?)",
            ),
            (
                NEWEST_FAILED,
                "SCAN outbox USING COVERING INDEX outbox_failed",
            ),
            (CREATED, "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"),
        ] {
            let details = plan(&mut conn, sql).await;
            assert_eq!(details, [wanted], "{sql}");
        }
        // The bounded counts: one range of `outbox_due` each, never all of it.
        for (sql, range) in [
            (DUE_UP_TO, "(next_attempt_at<?)"),
            (LATER_UP_TO, "(next_attempt_at>?)"),
        ] {
            let details = plan(&mut conn, sql).await;
            let search = format!("SEARCH outbox USING COVERING INDEX outbox_due {range}");
            assert!(details.contains(&search), "{details:?}");
            assert!(
                !details.iter().any(|d| d.starts_with("SCAN outbox")),
                "{details:?}"
            );
        }
    }
}
