//! Claims due rows, keeping each visitor's rows in order.
//!
//! A pending row is claimable when it is due and no older row of the same visitor is still
//! unfinished (pending or in flight). So a visitor's rows go out one at a time, oldest first, and a
//! row waiting for a retry holds back the newer rows of its visitor: a newer value is never
//! overwritten at Target by an older one that was retried later. A row that ends failed or
//! cancelled stops holding the others back.

use super::ClaimedRow;
use sqlx::SqlitePool;

/// Marks up to `limit` claimable rows `in_flight` and returns them, oldest due first.
///
/// One statement, so the claim is atomic: a crash leaves either no row claimed or all of them
/// `in_flight`, which start-up turns back into pending.
pub async fn claim(pool: &SqlitePool, now_ms: i64, limit: u32) -> sqlx::Result<Vec<ClaimedRow>> {
    sqlx::query_as::<_, ClaimedRow>(
        "UPDATE outbox SET state = 'in_flight', updated_at = ?1
         WHERE id IN (
             SELECT o.id FROM outbox o INDEXED BY outbox_due
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
               AND NOT EXISTS (
                   SELECT 1 FROM outbox p INDEXED BY outbox_visitor_unfinished
                   WHERE p.visitor = o.visitor AND p.id < o.id
                     AND p.state IN ('pending', 'in_flight'))
             ORDER BY o.next_attempt_at, o.id
             LIMIT ?2)
         RETURNING id, mbox_pc, mbox_3rd_party_id, attributes, attempts",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map(|mut rows| {
        // RETURNING gives no order; deliver oldest first.
        rows.sort_by_key(|r| r.id);
        rows
    })
}

/// Whether any pending row is due. A read, so an idle daemon can look often without taking the
/// write lock that producers need.
pub async fn has_due(pool: &SqlitePool, now_ms: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM outbox INDEXED BY outbox_due
                        WHERE state = 'pending' AND next_attempt_at <= ?1)",
    )
    .bind(now_ms)
    .fetch_one(pool)
    .await
}
