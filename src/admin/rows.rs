//! Reading outbox rows whole: one by id (`show`), or a page matching a filter (`list`).

use super::filter::{RowFilter, bind_all};
use crate::adobe::RowProblem;
use crate::outbox::{State, column_text};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteExecutor};

/// A row with every column. `created_at` is wall-clock ms; `next_attempt_at` and `updated_at` are
/// on the daemon's timeline.
///
/// Producer columns are read whatever a producer stored in them (see [`shown`]), so one odd row
/// never makes `list`, `show` or `status` fail.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The first of `mbox_pc`, `mbox_3rd_party_id` and `attributes` that is not UTF-8 TEXT (a
    /// BLOB stored before migration 0005), and why: the daemon sets such a row aside unsent.
    pub unreadable: Option<RowProblem>,
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

/// Producer columns (and `visitor`, made from them) come as storage class and bytes, under names
/// of their own so that the filters' `WHERE` still means the columns.
const COLUMNS: &str = "id, \
    typeof(mbox_pc) AS mbox_pc_type, CAST(mbox_pc AS BLOB) AS mbox_pc_bytes, \
    typeof(mbox_3rd_party_id) AS third_type, CAST(mbox_3rd_party_id AS BLOB) AS third_bytes, \
    typeof(visitor) AS visitor_type, CAST(visitor AS BLOB) AS visitor_bytes, \
    typeof(attributes) AS attributes_type, CAST(attributes AS BLOB) AS attributes_bytes, \
    typeof(source) AS source_type, CAST(source AS BLOB) AS source_bytes, \
    created_at, state, attempts, sends, next_attempt_at, last_status, last_error, updated_at, \
    send_alone";

impl<'r> sqlx::FromRow<'r, SqliteRow> for OutboxRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
        let mut unreadable = None;
        let mut column = |name: &str, storage: &str, bytes: &str| -> sqlx::Result<Option<String>> {
            let storage: String = row.try_get(storage)?;
            let bytes: Option<Vec<u8>> = row.try_get(bytes)?;
            let checked = matches!(name, "mbox_pc" | "mbox_3rd_party_id" | "attributes");
            if let (true, None, Err(rule)) =
                (checked, &unreadable, column_text(&storage, bytes.clone()))
            {
                unreadable = Some(RowProblem::new(name, rule));
            }
            Ok(shown(&storage, bytes))
        };
        Ok(OutboxRow {
            id: row.try_get("id")?,
            mbox_pc: column("mbox_pc", "mbox_pc_type", "mbox_pc_bytes")?,
            mbox_3rd_party_id: column("mbox_3rd_party_id", "third_type", "third_bytes")?,
            visitor: column("visitor", "visitor_type", "visitor_bytes")?.unwrap_or_default(),
            attributes: column("attributes", "attributes_type", "attributes_bytes")?
                .unwrap_or_default(),
            source: column("source", "source_type", "source_bytes")?,
            created_at: row.try_get("created_at")?,
            state: row.try_get("state")?,
            attempts: row.try_get("attempts")?,
            sends: row.try_get("sends")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            last_status: row.try_get("last_status")?,
            last_error: row.try_get("last_error")?,
            updated_at: row.try_get("updated_at")?,
            send_alone: row.try_get("send_alone")?,
            unreadable,
        })
    }
}

/// A producer column as people read it: TEXT as it is (a byte that is not UTF-8 shown as U+FFFD),
/// a BLOB as the SQL literal `x'…'` that `sqlite3` would print, NULL as `None`.
fn shown(storage: &str, bytes: Option<Vec<u8>>) -> Option<String> {
    let bytes = bytes?;
    if storage == "blob" {
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        return Some(format!("x'{hex}'"));
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_stored_producer_value_reads_as_text_for_people() {
        assert_eq!(shown("text", Some(b"CRM-1".to_vec())), Some("CRM-1".into()));
        assert_eq!(
            shown("blob", Some(vec![0x31, 0xff])),
            Some("x'31FF'".into())
        );
        assert_eq!(
            shown("text", Some(vec![b'a', 0xff])),
            Some("a\u{fffd}".into())
        );
        assert_eq!(shown("integer", Some(b"12".to_vec())), Some("12".into()));
        assert_eq!(shown("null", None), None);
    }
}
