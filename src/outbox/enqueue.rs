//! Adds a row the way a producer does, for `profile-outbox enqueue` and for tests.

use sqlx::SqlitePool;

/// A row as a producer writes it: exactly one visitor id, the attributes as a JSON object.
#[derive(Clone, Debug, Default)]
pub struct NewRow {
    pub mbox_pc: Option<String>,
    pub mbox_3rd_party_id: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub source: Option<String>,
}

/// Inserts the row and returns its id. The schema's own checks apply, as for any producer.
pub async fn enqueue(pool: &SqlitePool, row: &NewRow) -> sqlx::Result<i64> {
    let attributes = serde_json::Value::Object(row.attributes.clone()).to_string();
    sqlx::query_scalar(
        "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes, source)
         VALUES (?1, ?2, ?3, ?4) RETURNING id",
    )
    .bind(&row.mbox_pc)
    .bind(&row.mbox_3rd_party_id)
    .bind(attributes)
    .bind(&row.source)
    .fetch_one(pool)
    .await
}
