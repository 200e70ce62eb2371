//! Reading outbox rows whole: one by id (`show`), or a page matching a filter (`list`).

use super::filter::{RowFilter, bind_all};
use crate::outbox::State;
use sqlx::SqliteExecutor;

/// A row with every column. `created_at` is wall-clock ms; `next_attempt_at` and `updated_at` are
/// on the daemon's timeline.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub mbox_pc: Option<String>,
    pub mbox_3rd_party_id: Option<String>,
    /// `pc:` or `3p:` and the id: one key for "the same visitor".
    pub visitor: String,
    pub attributes: String,
    pub source: Option<String>,
    pub created_at: i64,
    pub state: String,
    pub attempts: i64,
    pub sends: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: Option<i64>,
    pub send_alone: bool,
}

impl OutboxRow {
    /// The row's state; the schema's CHECK allows no other text.
    pub fn state(&self) -> anyhow::Result<State> {
        State::parse(&self.state)
            .ok_or_else(|| anyhow::anyhow!("row {} has an unknown state {:?}", self.id, self.state))
    }
}

/// Which end of the outbox a listing starts from. Rows are ordered by id, the order they were
/// added in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

const COLUMNS: &str = "id, mbox_pc, mbox_3rd_party_id, visitor, attributes, source, created_at, \
                       state, attempts, sends, next_attempt_at, last_status, last_error, updated_at, \
                       send_alone";

/// The row with this id, if there is one.
pub async fn find(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<OutboxRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Up to `limit` rows matching `filter`, in `order`.
pub async fn list(
    db: impl SqliteExecutor<'_>,
    filter: &RowFilter,
    order: Order,
    limit: u32,
) -> sqlx::Result<Vec<OutboxRow>> {
    let (clause, values) = filter.clause();
    let direction = match order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    let sql = format!("SELECT {COLUMNS} FROM outbox {clause} ORDER BY id {direction} LIMIT ?");
    bind_all(sqlx::query_as(&sql), &values)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await
}
