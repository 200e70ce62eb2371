//! Claims due rows, keeping each visitor's rows in order, and groups a visitor's rows for
//! coalescing.
//!
//! A pending row is claimable when it is due and no older row of the same visitor is still
//! unfinished (pending or in flight). So a visitor's rows go out oldest first, and a row waiting
//! for a retry holds back the newer rows of its visitor: a newer value is never overwritten at
//! Target by an older one that was retried later. A row that ends failed or cancelled stops
//! holding the others back.
//!
//! With coalescing, the claimed row (the visitor's head) takes along the newer pending rows of
//! its visitor that follow it without a gap, so they can go out as one call.

use super::ClaimedRow;
use sqlx::{Row, SqlitePool};

/// Claims up to `limit` visitors' head rows, each with up to `max_rows - 1` followers
/// (`max_rows = 1` turns coalescing off). Returns one group per visitor, rows oldest first.
///
/// One `BEGIN IMMEDIATE` transaction: a crash leaves the whole claim or none of it, and rows left
/// `in_flight` are made pending again at start-up.
pub async fn claim(
    pool: &SqlitePool,
    now_ms: i64,
    limit: u32,
    max_rows: u32,
) -> sqlx::Result<Vec<Vec<ClaimedRow>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let heads = sqlx::query(
        "SELECT o.id, o.visitor, o.send_alone,
                ?3 AND EXISTS (
                    SELECT 1 FROM outbox f INDEXED BY outbox_visitor_unfinished
                    WHERE f.visitor = o.visitor AND f.id > o.id
                      AND f.state IN ('pending', 'in_flight')) AS has_followers
         FROM outbox o INDEXED BY outbox_due
         WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
           AND NOT EXISTS (
               SELECT 1 FROM outbox p INDEXED BY outbox_visitor_unfinished
               WHERE p.visitor = o.visitor AND p.id < o.id
                 AND p.state IN ('pending', 'in_flight'))
         ORDER BY o.next_attempt_at, o.id
         LIMIT ?2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .bind(max_rows > 1)
    .fetch_all(&mut *tx)
    .await?;
    if heads.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let mut groups: Vec<Vec<i64>> = Vec::with_capacity(heads.len());
    for head in &heads {
        let id: i64 = head.try_get(0)?;
        let visitor: String = head.try_get(1)?;
        let alone: bool = head.try_get(2)?;
        // Asked for in the same statement, so a visitor with one row waiting (the usual case in a
        // large backlog) costs no query of its own.
        let has_followers: bool = head.try_get(3)?;
        let mut group = vec![id];
        if max_rows > 1 && !alone && has_followers {
            group.extend(followers(&mut tx, &visitor, id, now_ms, max_rows - 1).await?);
        }
        groups.push(group);
    }
    let ids: Vec<i64> = groups.iter().flatten().copied().collect();
    let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
    let rows: Vec<ClaimedRow> = sqlx::query_as(
        "UPDATE outbox SET state = 'in_flight', updated_at = ?1
         WHERE id IN (SELECT value FROM json_each(?2))
         RETURNING id, mbox_pc, mbox_3rd_party_id, attributes, attempts",
    )
    .bind(now_ms)
    .bind(ids_json)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut by_id: std::collections::HashMap<i64, ClaimedRow> =
        rows.into_iter().map(|r| (r.id, r)).collect();
    Ok(groups
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .filter_map(|id| by_id.remove(&id))
                .collect::<Vec<_>>()
        })
        .filter(|group| !group.is_empty())
        .collect())
}

/// The visitor's pending rows after `head`, in order, stopping at the first one that must not be
/// merged (sent alone, or not yet due): merging past it would reorder the visitor's values.
async fn followers(
    tx: &mut sqlx::SqliteConnection,
    visitor: &str,
    head: i64,
    now_ms: i64,
    max: u32,
) -> sqlx::Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT id, state, send_alone, next_attempt_at FROM outbox INDEXED BY outbox_visitor_unfinished
         WHERE visitor = ?1 AND id > ?2 AND state IN ('pending', 'in_flight')
         ORDER BY id LIMIT ?3",
    )
    .bind(visitor)
    .bind(head)
    .bind(i64::from(max))
    .fetch_all(tx)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let state: String = row.try_get(1)?;
        let alone: bool = row.try_get(2)?;
        let due: i64 = row.try_get(3)?;
        if state != "pending" || alone || due > now_ms {
            break;
        }
        ids.push(row.try_get(0)?);
    }
    Ok(ids)
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
