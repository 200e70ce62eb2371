//! Keeps `run --sandbox` away from real work. The sandbox marks rows delivered that never reached
//! Adobe and counts its calls in its database's quota ledger, so it never opens `database.path`:
//! it uses its own database, `profile-outbox-sandbox.db` in the current folder, marked as a
//! sandbox in SQLite's header (`PRAGMA application_id`). A real `run` refuses a database with that
//! mark, and the sandbox refuses an outbox without it.

use crate::db::{self, Durability, OpenMode};
use anyhow::{Context, bail};
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The sandbox's database, in the folder `run --sandbox` is started from.
pub const SANDBOX_DATABASE: &str = "profile-outbox-sandbox.db";

/// The mark in a sandbox database's header: "POSB" (profile-outbox sandbox) in ASCII.
const SANDBOX_APPLICATION_ID: i64 = 0x504F_5342;

/// What a database's header and tables say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Marked as the sandbox's.
    Sandbox,
    /// No mark and no outbox yet: a new file.
    Empty,
    /// An outbox without the sandbox's mark: real work.
    Outbox,
}

/// The sandbox's database in `folder`, created and marked when missing. Refuses a file there
/// that holds an outbox without the mark.
pub async fn prepare(folder: &Path, busy_timeout: Duration) -> anyhow::Result<PathBuf> {
    let path = folder.join(SANDBOX_DATABASE);
    let pool = db::open(
        &path,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        busy_timeout,
        1,
    )
    .await?;
    let kind = kind(&pool, &path).await?;
    let marked = match kind {
        Kind::Sandbox => Ok(()),
        Kind::Empty => mark(&pool, &path).await,
        Kind::Outbox => Err(anyhow::anyhow!(
            "{} holds an outbox that is not the sandbox's: `run --sandbox` marks rows delivered \
             that never reach Adobe, so it uses only a database it created itself; move that \
             file away or start the sandbox from another folder",
            path.display()
        )),
    };
    pool.close().await;
    marked.map(|()| path)
}

/// Refuses to deliver for real from a database the sandbox made: its rows and quota ledger are
/// the sandbox's. A missing file is fine (`run` creates it). It reads the mark from the file's
/// header rather than opening SQLite, so a real start pays nothing for it.
pub fn refuse_sandbox_database(path: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        // Missing, or not readable: `run` itself says which when it opens the database.
        return Ok(());
    };
    let mut header = [0u8; 72];
    if file.read_exact(&mut header).is_err() {
        return Ok(()); // Shorter than a header: a new, empty database.
    }
    // SQLite's header keeps the application id big-endian at bytes 68..72.
    let id = i64::from(u32::from_be_bytes([
        header[68], header[69], header[70], header[71],
    ]));
    if id == SANDBOX_APPLICATION_ID {
        bail!(
            "database {} is a sandbox database (made by `run --sandbox`, its rows were never sent \
             to Adobe): set database.path to the outbox producers write into",
            path.display()
        );
    }
    Ok(())
}

async fn kind(pool: &SqlitePool, path: &Path) -> anyhow::Result<Kind> {
    let id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(pool)
        .await
        .with_context(|| format!("cannot read the header of database {}", path.display()))?;
    if id == SANDBOX_APPLICATION_ID {
        return Ok(Kind::Sandbox);
    }
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
        .fetch_one(pool)
        .await
        .with_context(|| format!("cannot list the tables of database {}", path.display()))?;
    Ok(if tables == 0 {
        Kind::Empty
    } else {
        Kind::Outbox
    })
}

/// Marks the header, and checkpoints so that the mark is in the database file itself, where
/// [`refuse_sandbox_database`] reads it, not only in the WAL.
async fn mark(pool: &SqlitePool, path: &Path) -> anyhow::Result<()> {
    sqlx::query(&format!("PRAGMA application_id = {SANDBOX_APPLICATION_ID}"))
        .execute(pool)
        .await
        .with_context(|| format!("cannot mark database {} as the sandbox's", path.display()))?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .with_context(|| format!("cannot checkpoint database {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn the_sandbox_creates_and_marks_its_own_database_and_reuses_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = prepare(dir.path(), WAIT)
            .await
            .expect("new sandbox database");
        let second = prepare(dir.path(), WAIT)
            .await
            .expect("same database again");
        assert_eq!(first, dir.path().join(SANDBOX_DATABASE));
        assert_eq!(first, second);
        let refused = refuse_sandbox_database(&first);
        assert!(
            refused.is_err_and(|e| e.to_string().contains("is a sandbox database")),
            "a real run refuses the sandbox's database"
        );
    }

    #[tokio::test]
    async fn the_sandbox_refuses_an_outbox_it_did_not_make() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SANDBOX_DATABASE);
        let pool = db::open(
            &path,
            OpenMode::CreateIfMissing,
            Durability::Normal,
            WAIT,
            1,
        )
        .await
        .expect("opens");
        db::migrate(&pool, &path).await.expect("schema");
        pool.close().await;

        let refused = prepare(dir.path(), WAIT).await;

        assert!(
            refused.is_err_and(|e| e.to_string().contains("not the sandbox's")),
            "an unmarked outbox is never the sandbox's"
        );
        refuse_sandbox_database(&path).expect("a real run takes an unmarked outbox");
    }
}
