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

/// The mode a new database is created with, before the umask: the owner and the producers'
/// group read and write.
const DATABASE_MODE: u32 = 0o660;

/// SQLite's own default: a connection checkpoints the WAL after a commit that leaves it this long.
const AUTOCHECKPOINT_PAGES: i64 = 1_000;

/// SQLite's own default page cache: 2,000 KiB per connection (negative: KiB, not pages).
const CACHE_KIB: i64 = -2_000;

/// Delivery's page cache, in KiB (negative, as SQLite reads it). A claim of `workers.batch_size`
/// visitors in a large backlog changes about one index page per visitor; with SQLite's default
/// 2,000 KiB those pages did not fit, and SQLite wrote them out mid-transaction.
pub const DELIVERY_CACHE_KIB: i64 = -8_192;

/// Delivery's connection checkpoints only past this many pages: normally the background
/// checkpointer (`housekeeping::WalCheckpointer`) has done it long before, off delivery's path.
pub const DELIVERY_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Opens (and with `CreateIfMissing`, creates) the database at `path`.
pub async fn open(
    path: &Path,
    mode: OpenMode,
    durability: Durability,
    busy_timeout: Duration,
    max_connections: u32,
) -> anyhow::Result<SqlitePool> {
    let settings = Settings {
        durability,
        busy_timeout,
        autocheckpoint_pages: AUTOCHECKPOINT_PAGES,
        cache_kib: CACHE_KIB,
    };
    open_with(path, mode, settings, max_connections).await
}

/// Delivery's own connection to an existing database (`synchronous = NORMAL`). It checkpoints
/// the WAL itself only as a backstop, past `DELIVERY_AUTOCHECKPOINT_PAGES`: copying pages into
/// the database and its fsync took nearly half of a batch's time inside delivery's commits.
pub async fn open_for_delivery(path: &Path, busy_timeout: Duration) -> anyhow::Result<SqlitePool> {
    let settings = Settings {
        durability: Durability::Normal,
        busy_timeout,
        autocheckpoint_pages: DELIVERY_AUTOCHECKPOINT_PAGES,
        cache_kib: DELIVERY_CACHE_KIB,
    };
    open_with(path, OpenMode::MustExist, settings, 1).await
}

/// The per-connection settings, all read back after opening.
#[derive(Clone, Copy, Debug)]
struct Settings {
    durability: Durability,
    busy_timeout: Duration,
    autocheckpoint_pages: i64,
    cache_kib: i64,
}

async fn open_with(
    path: &Path,
    mode: OpenMode,
    settings: Settings,
    max_connections: u32,
) -> anyhow::Result<SqlitePool> {
    let Settings {
        durability,
        busy_timeout,
        autocheckpoint_pages,
        cache_kib,
    } = settings;
    match mode {
        OpenMode::MustExist if !path.is_file() => bail!(
            "database {} does not exist; check database.path (the daemon creates it on its first `run`)",
            path.display()
        ),
        OpenMode::CreateIfMissing => {
            create_folder(path)?;
            create_file(path)?;
        }
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
        // Statement journals (SQLite keeps one while a multi-row UPDATE runs inside a
        // transaction, so a failed CHECK can undo just that statement) stay in memory instead of
        // spilling to a temporary file: a batch's UPDATEs made them spill on every claim.
        .pragma("temp_store", "memory")
        .pragma("wal_autocheckpoint", autocheckpoint_pages.to_string())
        .pragma("cache_size", cache_kib.to_string())
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
        // A connection to a local file cannot go stale; pinging it on every acquire cost a round
        // trip to its worker thread several times a batch.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open database {}", path.display()))?;
    verify(&pool, path, settings).await?;
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

/// Creates an empty database file that the producers' group may write (0660 before the umask).
/// SQLite would create it 0644, and its `-wal` and `-shm` files copy the database's mode: under
/// the unit's `UMask=0007` that left producers in the group unable to INSERT. An empty file is a
/// valid empty database. A file that exists already is left as it is.
fn create_file(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DATABASE_MODE)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot create database {}; set database.path to a writable place",
                path.display()
            )
        }),
    }
}

/// Reads the settings back and fails when SQLite did not take one.
async fn verify(pool: &SqlitePool, path: &Path, settings: Settings) -> anyhow::Result<()> {
    let mut conn = pool
        .acquire()
        .await
        .context("cannot take a database connection")?;
    let journal: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let want_sync = match settings.durability {
        Durability::Normal => 1,
        Durability::Full => 2,
    };
    let wanted = [
        ("synchronous", want_sync),
        (
            "busy_timeout",
            i64::try_from(settings.busy_timeout.as_millis()).unwrap_or(i64::MAX),
        ),
        // 2: memory.
        ("temp_store", 2),
        ("wal_autocheckpoint", settings.autocheckpoint_pages),
        ("cache_size", settings.cache_kib),
    ];
    let mut wrong = Vec::new();
    if !journal.eq_ignore_ascii_case("wal") {
        wrong.push(format!("journal_mode={journal} (want wal)"));
    }
    for (name, want) in wanted {
        let got: i64 = sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if got != want {
            wrong.push(format!("{name}={got} (want {want})"));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "database {} did not take its settings: {}",
            path.display(),
            wrong.join(", ")
        );
    }
    Ok(())
}
