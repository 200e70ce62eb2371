//! Records what happened to claimed rows, inside the caller's transaction (one per batch, with
//! the quota refund and the daemon's state).

use sqlx::SqliteConnection;
use std::collections::BTreeMap;

/// What becomes of one claimed row. Built by the delivery policy; this module only writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Target accepted every request for the row.
    Delivered { status: u16 },
    /// Back to pending, to be tried again at `at_ms`.
    Retry {
        attempts: i64,
        at_ms: i64,
        status: Option<u16>,
        error: String,
    },
    /// Set aside for an operator, with the reason.
    Failed {
        attempts: i64,
        status: Option<u16>,
        reason: String,
    },
    /// Target refused an update combining this row with others: back to pending, due at once,
    /// to be sent on its own from now on so the refusal lands on the row at fault.
    SendAlone { status: Option<u16>, error: String },
    /// Not sent (shutdown, quota, or delivery paused before its turn): back to pending, due at
    /// once, with nothing else changed.
    HandBack,
}

/// One claimed row's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowResult {
    pub id: i64,
    /// Requests made for the row in this round.
    pub requests: u32,
    pub decision: Decision,
}

/// Writes the outcomes of a batch. Only rows still `in_flight` are changed, so a row can never be
/// recorded twice. The caller's transaction makes the batch all-or-nothing: after a crash, rows
/// not recorded are sent again.
///
/// Delivered and handed-back rows, nearly all of a batch, are written a statement per kind (and
/// status and request count) for the whole batch rather than a statement per row: per-statement
/// overhead, not SQLite's own work, was most of a batch's cost. Rows with an error of their own
/// are written one by one.
pub async fn record(
    tx: &mut SqliteConnection,
    results: &[RowResult],
    now_ms: i64,
) -> sqlx::Result<()> {
    let mut delivered: BTreeMap<(u16, u32), Vec<i64>> = BTreeMap::new();
    let mut handed_back: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for result in results {
        match &result.decision {
            Decision::Delivered { status } => delivered
                .entry((*status, result.requests))
                .or_default()
                .push(result.id),
            Decision::HandBack => handed_back
                .entry(result.requests)
                .or_default()
                .push(result.id),
            Decision::Retry { .. } | Decision::Failed { .. } | Decision::SendAlone { .. } => {
                record_one(tx, result, now_ms).await?;
            }
        }
    }
    for ((status, requests), ids) in delivered {
        sqlx::query(
            "UPDATE outbox SET state = 'delivered', sends = sends + ?2, last_status = ?3,
                 last_error = NULL, updated_at = ?4
             WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'in_flight'",
        )
        .bind(id_list(&ids))
        .bind(i64::from(requests))
        .bind(i64::from(status))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }
    for (requests, ids) in handed_back {
        sqlx::query(
            "UPDATE outbox SET state = 'pending', sends = sends + ?2, updated_at = ?3
             WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'in_flight'",
        )
        .bind(id_list(&ids))
        .bind(i64::from(requests))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Row ids as a JSON array, for `json_each`.
fn id_list(ids: &[i64]) -> String {
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", listed.join(","))
}

/// Writes one row's retry, failure or send-alone decision, each with its own error text.
async fn record_one(
    tx: &mut SqliteConnection,
    result: &RowResult,
    now_ms: i64,
) -> sqlx::Result<()> {
    let requests = i64::from(result.requests);
    let query = match &result.decision {
        Decision::Retry {
            attempts,
            at_ms,
            status,
            error,
        } => sqlx::query(
            "UPDATE outbox SET state = 'pending', sends = sends + ?2, last_status = ?3,
                 last_error = ?4, attempts = ?5, next_attempt_at = ?6, updated_at = ?7
             WHERE id = ?1 AND state = 'in_flight'",
        )
        .bind(result.id)
        .bind(requests)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(attempts)
        .bind(at_ms)
        .bind(now_ms),
        Decision::Failed {
            attempts,
            status,
            reason,
        } => sqlx::query(
            "UPDATE outbox SET state = 'failed', sends = sends + ?2, last_status = ?3,
                 last_error = ?4, attempts = ?5, updated_at = ?6
             WHERE id = ?1 AND state = 'in_flight'",
        )
        .bind(result.id)
        .bind(requests)
        .bind(status.map(i64::from))
        .bind(reason)
        .bind(attempts)
        .bind(now_ms),
        Decision::SendAlone { status, error } => sqlx::query(
            "UPDATE outbox SET state = 'pending', sends = sends + ?2, last_status = ?3,
                 last_error = ?4, send_alone = 1, next_attempt_at = ?5, updated_at = ?5
             WHERE id = ?1 AND state = 'in_flight'",
        )
        .bind(result.id)
        .bind(requests)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(now_ms),
        // Written for the whole batch by `record`.
        Decision::Delivered { .. } | Decision::HandBack => return Ok(()),
    };
    query.execute(&mut *tx).await?;
    Ok(())
}
