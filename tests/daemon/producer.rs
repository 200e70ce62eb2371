//! Producers for the tests: rows that carry `"seq"`, increasing per visitor in commit order, so
//! the fault checker can tell old values from new.

use sqlx::SqlitePool;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Inserts one row at a time for `visitors` visitors (third-party ids `{prefix}-{n}`), a row every
/// `every`, until `stop`; returns how many rows were committed.
pub async fn produce(
    pool: SqlitePool,
    prefix: String,
    visitors: usize,
    every: Duration,
    stop: CancellationToken,
) -> usize {
    let mut seqs: HashMap<usize, i64> = HashMap::new();
    let mut committed = 0;
    while !stop.is_cancelled() {
        let visitor = rand::random_range(0..visitors);
        let seq = seqs.entry(visitor).or_insert(0);
        *seq += 1;
        let inserted = sqlx::query(
            "INSERT INTO outbox (mbox_3rd_party_id, attributes, source) VALUES (?, ?, 'test')",
        )
        .bind(format!("{prefix}-{visitor}"))
        .bind(serde_json::json!({ "seq": *seq, "note": format!("row {committed}") }).to_string())
        .execute(&pool)
        .await;
        match inserted {
            Ok(_) => committed += 1,
            // Not committed: the next row of this visitor reuses the seq.
            Err(_) => *seq -= 1,
        }
        tokio::time::sleep(every).await;
    }
    committed
}

/// Inserts `rows` rows for `visitors` visitors as fast as it can; returns the count.
pub async fn fill(pool: &SqlitePool, prefix: &str, visitors: usize, rows: usize) -> usize {
    let mut tx = pool.begin().await.expect("transaction");
    for n in 0..rows {
        sqlx::query("INSERT INTO outbox (mbox_3rd_party_id, attributes) VALUES (?, ?)")
            .bind(format!("{prefix}-{}", n % visitors))
            .bind(serde_json::json!({ "seq": n / visitors + 1 }).to_string())
            .execute(&mut *tx)
            .await
            .expect("row inserts");
    }
    tx.commit().await.expect("commit");
    rows
}
