//! For unit tests only: a fresh, migrated database in a folder the test owns.

use super::{Durability, OpenMode, migrate, open};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

/// Creates `outbox.db` in `dir` with the whole schema, as `run` would.
pub async fn migrated(dir: &Path) -> SqlitePool {
    let path = dir.join("outbox.db");
    let pool = open(
        &path,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        Duration::from_secs(5),
        2,
    )
    .await
    .expect("a scratch database opens");
    migrate(&pool, &path).await.expect("the schema applies");
    pool
}
