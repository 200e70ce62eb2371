//! Opens the outbox database with every setting chosen explicitly and then read back, because
//! SQLite silently ignores a pragma it does not understand.

use anyhow::{Context, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// Whether opening may create the database file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// `run`: create the file (and its folder) when missing.
    CreateIfMissing,
    /// Admin commands: a missing file is an error, never a new empty database.
    MustExist,
}

/// How hard each commit pushes to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = NORMAL`: in WAL mode a commit survives a crash of the process; a power cut
    /// may roll back the last few. The daemon's own writes are all safe to lose that way: a lost
    /// claim or outcome only means a row is sent again.
    Normal,
    /// `synchronous = FULL`: the commit is on disk before it returns. For writes that add rows.
    Full,
}

/// Opens (and with `CreateIfMissing`, creates) the database at `path`.
pub async fn open(
    path: &Path,
    mode: OpenMode,
    durability: Durability,
    busy_timeout: Duration,
    max_connections: u32,
) -> anyhow::Result<SqlitePool> {
    match mode {
        OpenMode::MustExist if !path.is_file() => bail!(
            "database {} does not exist; check database.path (the daemon creates it on its first `run`)",
            path.display()
        ),
        OpenMode::CreateIfMissing => create_folder(path)?,
        OpenMode::MustExist => {}
    }
    let synchronous = match durability {
        Durability::Normal => SqliteSynchronous::Normal,
        Durability::Full => SqliteSynchronous::Full,
    };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(mode == OpenMode::CreateIfMissing)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(busy_timeout)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        // A connection that comes back still inside a transaction is closed, not reused. That
        // happens after a failed COMMIT (a full disk): SQLite has already rolled back, sqlx's
        // rollback then fails, and the connection would refuse every later BEGIN.
        .after_release(|conn, _| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open database {}", path.display()))?;
    verify(&pool, path, durability, busy_timeout).await?;
    Ok(pool)
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &SqlitePool, path: &Path) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .with_context(|| format!("cannot apply the schema to database {}", path.display()))
}

fn create_folder(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() && !folder.exists() => {
            std::fs::create_dir_all(folder).with_context(|| {
                format!(
                    "cannot create folder {} for the database; set database.path to a writable place",
                    folder.display()
                )
            })
        }
        _ => Ok(()),
    }
}

/// Reads the settings back and fails when SQLite did not take one.
async fn verify(
    pool: &SqlitePool,
    path: &Path,
    durability: Durability,
    busy_timeout: Duration,
) -> anyhow::Result<()> {
    let mut conn = pool
        .acquire()
        .await
        .context("cannot take a database connection")?;
    let journal: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let synchronous: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let timeout_ms: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let want_sync = match durability {
        Durability::Normal => 1,
        Durability::Full => 2,
    };
    let want_timeout = i64::try_from(busy_timeout.as_millis()).unwrap_or(i64::MAX);
    if !journal.eq_ignore_ascii_case("wal")
        || synchronous != want_sync
        || timeout_ms != want_timeout
    {
        bail!(
            "database {} did not take its settings: journal_mode={journal} (want wal), \
             synchronous={synchronous} (want {want_sync}), busy_timeout={timeout_ms} (want {want_timeout})",
            path.display()
        );
    }
    Ok(())
}
