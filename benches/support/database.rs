//! Databases for the benchmark: the daemon's schema (through its own `db::open` and migrations)
//! filled with a backlog of distinct visitors in one SQL statement, a fast bulk load for millions
//! of rows, and the few reads the benchmark polls.
//!
//! Visitor ids are `{hash}-{n}.01_00`: distinct, valid tntIds whose order in the visitor index is
//! unrelated to the order rows were added, as with real visitors.

use profile_outbox::db::{self, Durability, OpenMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// The backlog generator: rows `first..=last`, one visitor each, as a producer would write them.
const FILL: &str = "
    WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
    INSERT INTO outbox (mbox_pc, attributes, source)
    SELECT printf('%d-%d.01_00', (n * 2654435761) % 4294967296, n),
           printf('{\"loyalty_tier\":\"gold\",\"visits\":\"%d\"}', n),
           'bench'
    FROM seq";

/// Schema objects dropped during a bulk load and rebuilt after it, exactly as the migrations made
/// them: building an index once is much faster than growing it a row at a time.
const REBUILT_AFTER_LOAD: [&str; 3] = [
    "outbox_due",
    "outbox_visitor_unfinished",
    "outbox_refuses_malformed_rows",
];

/// Opens (creating and migrating) a database the way `profile-outbox run` does.
pub async fn open_as_daemon(path: &Path, connections: u32) -> anyhow::Result<SqlitePool> {
    let pool = db::open(
        path,
        OpenMode::CreateIfMissing,
        Durability::Normal,
        Duration::from_secs(5),
        connections,
    )
    .await?;
    db::migrate(&pool, path).await?;
    Ok(pool)
}

/// A fresh database at `path` holding `rows` pending rows, one visitor each.
pub async fn create_backlog(path: &Path, rows: u64) -> anyhow::Result<()> {
    let pool = open_as_daemon(path, 1).await?;
    sqlx::query(FILL)
        .bind(1_i64)
        .bind(i64::try_from(rows)?)
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

/// Like [`create_backlog`] for millions of rows: loads with the two pending-row indexes and the
/// insert trigger dropped and rebuilt afterwards ([`bulk_load`]). The result has the daemon's
/// schema exactly.
pub async fn bulk_backlog(path: &Path, rows: u64) -> anyhow::Result<()> {
    open_as_daemon(path, 1).await?.close().await;
    let rows = i64::try_from(rows)?;
    bulk_load(
        path,
        &REBUILT_AFTER_LOAD,
        async |conn: &mut SqliteConnection| {
            sqlx::query(FILL)
                .bind(1_i64)
                .bind(rows)
                .execute(conn)
                .await?;
            Ok(())
        },
    )
    .await
}

/// Runs `fill` on the existing database at `path` with the schema objects named in `dropped`
/// (indexes or triggers) gone, no journal and no fsync, then rebuilds them from their own SQL and
/// puts the database back in WAL mode: building an index once is much faster than growing it a
/// row at a time. Leaving WAL needs the file to itself, so it waits up to 30 s for other
/// connections to let go.
pub async fn bulk_load(
    path: &Path,
    dropped: &[&str],
    fill: impl AsyncFnOnce(&mut SqliteConnection) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(30))
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-1048576")
        .pragma("temp_store", "memory")
        .connect()
        .await?;
    leave_wal(&mut conn).await?;
    let mut rebuild = Vec::new();
    for name in dropped {
        let (kind, sql): (String, String) =
            sqlx::query_as("SELECT type, sql FROM sqlite_master WHERE name = ?1")
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
        sqlx::query(&format!("DROP {kind} {name}"))
            .execute(&mut conn)
            .await?;
        rebuild.push(sql);
    }
    fill(&mut conn).await?;
    for sql in rebuild {
        sqlx::query(&sql).execute(&mut conn).await?;
    }
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Switches `conn` to a rollback journal. That needs the file to itself, and SQLite answers "database
/// is locked" at once, without waiting out the busy timeout, while a connection just closed by a
/// pool has not let go yet: so it is tried again for up to 30 s.
async fn leave_wal(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&mut *conn)
            .await
        {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e))
                if e.message().contains("locked")
                    && started.elapsed() < Duration::from_secs(30) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A pool for the benchmark's own reads while the daemon runs.
pub async fn open_reader(path: &Path) -> anyhow::Result<SqlitePool> {
    db::open(
        path,
        OpenMode::MustExist,
        Durability::Normal,
        Duration::from_secs(5),
        1,
    )
    .await
}

/// Whether any row is pending or in flight (one probe of the partial index).
pub async fn has_unfinished(pool: &SqlitePool) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM outbox INDEXED BY outbox_visitor_unfinished
                        WHERE state IN ('pending', 'in_flight'))",
    )
    .fetch_one(pool)
    .await
}

/// Rows in `state`.
pub async fn count(pool: &SqlitePool, state: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = ?1")
        .bind(state)
        .fetch_one(pool)
        .await
}

/// A producer's connection with the README's settings: WAL (set by the daemon and kept by the
/// file), `busy_timeout` 5 s and `synchronous = FULL`, SQLite's stock default, set explicitly.
pub async fn connect_producer(path: &Path) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut conn)
        .await?;
    anyhow::ensure!(
        synchronous == 2,
        "producer synchronous is {synchronous}, not FULL (2)"
    );
    Ok(conn)
}
