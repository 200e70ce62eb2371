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
use super::row::{StoredRow, UnreadableRow};
use super::set_aside::set_aside;
use sqlx::{Row, SqlitePool};
use std::collections::HashMap;

/// Claims up to `limit` visitors' head rows, each with up to `max_rows - 1` followers
/// (`max_rows = 1` turns coalescing off). Returns one group per visitor, rows oldest first.
///
/// A claimed row whose producer columns cannot be read as text (a BLOB written before migration
/// 0005, text that is not UTF-8) is set aside as failed in the same transaction and not returned:
/// it is that row's failure, costs no request and no quota, and never fails the claim. When every
/// row claimed was set aside, the claim looks again, so a run of such rows does not look like an
/// empty outbox.
pub async fn claim(
    pool: &SqlitePool,
    now_ms: i64,
    limit: u32,
    max_rows: u32,
) -> sqlx::Result<Claimed> {
    let mut set_aside_in_all = 0;
    loop {
        let (groups, set_aside) = claim_once(pool, now_ms, limit, max_rows).await?;
        set_aside_in_all += set_aside;
        if !groups.is_empty() || set_aside == 0 {
            return Ok(Claimed {
                groups,
                set_aside: set_aside_in_all,
            });
        }
    }
}

/// What a claim took: groups of readable rows, one per visitor, and how many unreadable rows it
/// set aside as failed on the way (already recorded, so counted by the round that claimed them).
#[derive(Debug, Default)]
pub struct Claimed {
    pub groups: Vec<Vec<ClaimedRow>>,
    pub set_aside: usize,
}

/// One claim: the groups of readable rows, and how many unreadable rows were set aside.
///
/// One `BEGIN IMMEDIATE` transaction: a crash leaves the whole claim or none of it, and rows left
/// `in_flight` are made pending again at start-up.
async fn claim_once(
    pool: &SqlitePool,
    now_ms: i64,
    limit: u32,
    max_rows: u32,
) -> sqlx::Result<(Vec<Vec<ClaimedRow>>, usize)> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let groups = group_ids(&mut tx, now_ms, limit, max_rows).await?;
    if groups.is_empty() {
        tx.commit().await?;
        return Ok((Vec::new(), 0));
    }
    let ids: Vec<i64> = groups.iter().flatten().copied().collect();
    let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
    // Each producer column as its storage class and bytes, which decode whatever is stored.
    let stored: Vec<StoredRow> = sqlx::query_as(
        "UPDATE outbox SET state = 'in_flight', updated_at = ?1
         WHERE id IN (SELECT value FROM json_each(?2))
         RETURNING id,
             typeof(mbox_pc) AS mbox_pc_type, CAST(mbox_pc AS BLOB) AS mbox_pc,
             typeof(mbox_3rd_party_id) AS mbox_3rd_party_id_type,
             CAST(mbox_3rd_party_id AS BLOB) AS mbox_3rd_party_id,
             typeof(attributes) AS attributes_type, CAST(attributes AS BLOB) AS attributes,
             attempts",
    )
    .bind(now_ms)
    .bind(ids_json)
    .fetch_all(&mut *tx)
    .await?;
    let (readable, unreadable) = decode(stored);
    set_aside(&mut tx, &unreadable, now_ms).await?;
    tx.commit().await?;
    Ok((in_groups(groups, readable), unreadable.len()))
}

/// The rows that read as text, by id, and those that do not.
fn decode(stored: Vec<StoredRow>) -> (HashMap<i64, ClaimedRow>, Vec<UnreadableRow>) {
    let mut readable = HashMap::with_capacity(stored.len());
    let mut unreadable = Vec::new();
    for row in stored {
        match row.decode() {
            Ok(row) => {
                readable.insert(row.id, row);
            }
            Err(row) => unreadable.push(row),
        }
    }
    (readable, unreadable)
}

/// The claimed rows in their groups, oldest first; a row set aside leaves its group, and a group
/// left empty is dropped.
fn in_groups(groups: Vec<Vec<i64>>, mut rows: HashMap<i64, ClaimedRow>) -> Vec<Vec<ClaimedRow>> {
    groups
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .filter_map(|id| rows.remove(&id))
                .collect::<Vec<_>>()
        })
        .filter(|group| !group.is_empty())
        .collect()
}

/// The ids to claim, one group per visitor, head first.
async fn group_ids(
    tx: &mut sqlx::SqliteConnection,
    now_ms: i64,
    limit: u32,
    max_rows: u32,
) -> sqlx::Result<Vec<Vec<i64>>> {
    // The visitor key is not read here: a producer column stored as a BLOB would make it text
    // that is not UTF-8, and one such row must not fail the claim. Followers are found by the
    // head's id instead.
    let heads = sqlx::query(
        "SELECT o.id, o.send_alone,
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
    let mut groups: Vec<Vec<i64>> = Vec::with_capacity(heads.len());
    for head in &heads {
        let id: i64 = head.try_get(0)?;
        let alone: bool = head.try_get(1)?;
        // Asked for in the same statement, so a visitor with one row waiting (the usual case in a
        // large backlog) costs no query of its own.
        let has_followers: bool = head.try_get(2)?;
        let mut group = vec![id];
        if max_rows > 1 && !alone && has_followers {
            group.extend(followers(&mut *tx, id, now_ms, max_rows - 1).await?);
        }
        groups.push(group);
    }
    Ok(groups)
}

/// The visitor's pending rows after `head`, in order, stopping at the first one that must not be
/// merged (sent alone, or not yet due): merging past it would reorder the visitor's values.
async fn followers(
    tx: &mut sqlx::SqliteConnection,
    head: i64,
    now_ms: i64,
    max: u32,
) -> sqlx::Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT id, state, send_alone, next_attempt_at FROM outbox INDEXED BY outbox_visitor_unfinished
         WHERE visitor = (SELECT visitor FROM outbox WHERE id = ?1) AND id > ?1
           AND state IN ('pending', 'in_flight')
         ORDER BY id LIMIT ?2",
    )
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
