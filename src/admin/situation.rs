//! `show`: a row with the facts that explain it, read in one snapshot: the older rows of its
//! visitor it waits for, the newer ones waiting for it (or already delivered past it), the quota
//! and the daemon.

use super::daemon::DaemonView;
use super::explain::{Ahead, Explanation, NewerDelivered, Pause, Situation, explain};
use super::open::Database;
use super::rows::{OutboxRow, find};
use super::time::TimeFrame;
use crate::adobe::ProfileUpdate;
use crate::clock::Clock;
use crate::outbox::State;
use crate::quota;
use sqlx::SqliteConnection;

/// A row, what was found around it, and the explanation.
#[derive(Clone, Debug)]
pub struct RowReport {
    pub row: OutboxRow,
    pub situation: Situation,
    pub explanation: Explanation,
    pub frame: TimeFrame,
}

/// Reads row `id` and its surroundings; `None` when there is no such row.
pub async fn report(
    db: &Database,
    id: i64,
    quota_limit: i64,
    clock: Clock,
) -> anyhow::Result<Option<RowReport>> {
    let mut tx = db.snapshot().await?;
    let daemon = DaemonView::observe(db, &mut tx).await?;
    let frame = daemon.frame(clock);
    let Some(row) = find(&mut *tx, id).await? else {
        return Ok(None);
    };
    let situation = situation(&mut tx, &row, &daemon, &frame, quota_limit).await?;
    tx.commit().await?;
    let explanation = explain(&situation);
    Ok(Some(RowReport {
        row,
        situation,
        explanation,
        frame,
    }))
}

/// The facts [`explain`] needs about `row`, with every time on the wall clock.
async fn situation(
    conn: &mut SqliteConnection,
    row: &OutboxRow,
    daemon: &DaemonView,
    frame: &TimeFrame,
    quota_limit: i64,
) -> anyhow::Result<Situation> {
    let state = row.state()?;
    let now = frame.now_ms();
    let pending = state == State::Pending;
    let quota = quota::usage(&mut *conn, now, quota_limit).await?;
    Ok(Situation {
        id: row.id,
        state,
        now_ms: frame.wall_now_ms(),
        retry_at_ms: (pending && row.next_attempt_at > now)
            .then(|| frame.to_wall_ms(row.next_attempt_at)),
        updated_at_ms: row.updated_at.map(|t| frame.to_wall_ms(t)),
        last_status: row.last_status,
        last_error: row.last_error.clone(),
        problem: row.unreadable.clone().or_else(|| {
            ProfileUpdate::from_row(
                row.mbox_pc.as_deref(),
                row.mbox_3rd_party_id.as_deref(),
                &row.attributes,
            )
            .err()
        }),
        ahead: ahead(&mut *conn, row).await?,
        behind: behind(&mut *conn, row).await?,
        newer_delivered: match state {
            State::Failed => newer_delivered(&mut *conn, row).await?,
            _ => None,
        },
        quota_spent_until_ms: quota
            .next_free_at
            .filter(|_| pending)
            .map(|t| frame.to_wall_ms(t)),
        pause: daemon.pause().map(|(reason, until_ms)| Pause {
            reason: reason.to_owned(),
            until_ms,
        }),
        daemon_running: daemon.running,
    })
}

/// The older unfinished rows of the row's visitor (the index `outbox_visitor_unfinished`).
async fn ahead(conn: &mut SqliteConnection, row: &OutboxRow) -> anyhow::Result<Option<Ahead>> {
    let first: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, state, (SELECT count(*) FROM outbox
                            WHERE visitor = ?1 AND id < ?2 AND state IN ('pending', 'in_flight'))
         FROM outbox WHERE visitor = ?1 AND id < ?2 AND state IN ('pending', 'in_flight')
         ORDER BY id LIMIT 1",
    )
    .bind(&row.visitor)
    .bind(row.id)
    .fetch_optional(conn)
    .await?;
    first
        .map(|(first_id, state, count)| {
            let first_state = State::parse(&state)
                .ok_or_else(|| anyhow::anyhow!("row {first_id} has an unknown state {state:?}"))?;
            Ok(Ahead {
                first_id,
                first_state,
                count,
            })
        })
        .transpose()
}

/// How many newer unfinished rows of the visitor wait for this one.
async fn behind(conn: &mut SqliteConnection, row: &OutboxRow) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM outbox
         WHERE visitor = ?1 AND id > ?2 AND state IN ('pending', 'in_flight')",
    )
    .bind(&row.visitor)
    .bind(row.id)
    .fetch_one(conn)
    .await
}

/// Newer rows of the visitor already delivered. Delivered rows have no index by visitor (that
/// would be an index on nearly every row), so this reads the rows added after this one.
async fn newer_delivered(
    conn: &mut SqliteConnection,
    row: &OutboxRow,
) -> sqlx::Result<Option<NewerDelivered>> {
    let (count, latest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), max(id) FROM outbox
         WHERE id > ?2 AND visitor = ?1 AND state = 'delivered'",
    )
    .bind(&row.visitor)
    .bind(row.id)
    .fetch_one(conn)
    .await?;
    Ok(latest.map(|latest_id| NewerDelivered { count, latest_id }))
}
