//! Sets aside, inside the claim's transaction, claimed rows whose producer columns cannot be read
//! as text: `failed` with the reason, no request made, no quota spent, nothing else changed.

use super::row::UnreadableRow;
use sqlx::SqliteConnection;

/// Marks each row `failed` with its reason. The rows were just claimed (`in_flight`) in the same
/// transaction, so no other writer has touched them.
pub async fn set_aside(
    tx: &mut SqliteConnection,
    rows: &[UnreadableRow],
    now_ms: i64,
) -> sqlx::Result<()> {
    for row in rows {
        tracing::warn!(row = row.id, reason = %row.reason, "row set aside as failed before sending");
        sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3
             WHERE id = ?1 AND state = 'in_flight'",
        )
        .bind(row.id)
        .bind(&row.reason)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
