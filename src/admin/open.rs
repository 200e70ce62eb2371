//! Opens an existing outbox database for the admin commands. Never creates a file and never
//! migrates (that is `run`'s job): a missing path, a file that is not SQLite, a SQLite file that is
//! not an outbox, or an outbox whose schema this binary does not know each stop with a message
//! naming the path and what to do.

use super::lock_wait::LOCK_WAIT;
use super::schema::{Applied, SchemaFit, fit};
use crate::config::DatabaseSettings;
use crate::db::{self, Durability, OpenMode};
use anyhow::{Context, bail};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection, SqlitePool};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An open outbox database whose schema was checked.
#[derive(Clone, Debug)]
pub struct Database {
    pub pool: SqlitePool,
    pub path: PathBuf,
}

impl Database {
    /// Starts a read transaction, so that every figure read in it comes from one snapshot.
    pub async fn snapshot(&self) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin()
            .await
            .with_context(|| format!("cannot read database {}", self.path.display()))
    }
}

/// Opens the database `settings` name, after checking it is an outbox this binary knows.
pub async fn open(settings: &DatabaseSettings) -> anyhow::Result<Database> {
    let path = &settings.path;
    if path.is_dir() {
        bail!(
            "database {} is a directory, not a database file; set database.path to the file in \
             it (the daemon's is usually {})",
            path.display(),
            path.join("outbox.db").display()
        );
    }
    if !path.is_file() {
        bail!(
            "database {} does not exist; check database.path in the configuration (the daemon \
             creates the database on its first `run`)",
            path.display()
        );
    }
    // Wait for the write lock as long as producers are told to, not the daemon's own timeout.
    let busy_timeout = settings.busy_timeout.max(LOCK_WAIT);
    check_schema(path, busy_timeout).await?;
    // The file holds this project's schema, so the daemon's settings (WAL, read back) now apply.
    // FULL durability: an operator's change must survive a power cut once reported.
    let pool = db::open(path, OpenMode::MustExist, Durability::Full, busy_timeout, 2).await?;
    Ok(Database {
        pool,
        path: path.clone(),
    })
}

/// Reads the schema on a plain connection that sets nothing (no journal mode), so that a file
/// that turns out not to be an outbox is left exactly as it was.
async fn check_schema(path: &Path, busy_timeout: Duration) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(busy_timeout)
        .connect()
        .await
        .map_err(|e| not_sqlite(path, &e))?;
    let result = read_fit(&mut conn, path).await;
    // Closing is best effort: the check's answer is what matters.
    let _ = conn.close().await;
    explain_fit(path, result?)
}

async fn read_fit(conn: &mut SqliteConnection, path: &Path) -> anyhow::Result<SchemaFit> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master
         WHERE type = 'table' AND name IN ('outbox', '_sqlx_migrations')",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| not_sqlite(path, &e))?;
    if !tables.iter().any(|t| t == "outbox") {
        bail!(
            "{} is not a profile-outbox database: it has no outbox table; check database.path",
            path.display()
        );
    }
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        bail!(
            "{} has an outbox table but no record of profile-outbox's migrations \
             (_sqlx_migrations): it was not made by profile-outbox; check database.path",
            path.display()
        );
    }
    let applied = sqlx::query("SELECT version, success, checksum FROM _sqlx_migrations")
        .fetch_all(&mut *conn)
        .await
        .with_context(|| format!("cannot read the migrations of {}", path.display()))?
        .into_iter()
        .map(|row| {
            Ok(Applied {
                version: row.try_get(0)?,
                success: row.try_get(1)?,
                checksum: row.try_get(2)?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()
        .with_context(|| format!("cannot read the migrations of {}", path.display()))?;
    let migrator = sqlx::migrate!("./migrations");
    let known: Vec<(i64, &[u8])> = migrator
        .iter()
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    Ok(fit(&known, &applied))
}

fn not_sqlite(path: &Path, error: &sqlx::Error) -> anyhow::Error {
    let not_a_database = error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "26");
    if not_a_database {
        anyhow::anyhow!(
            "{} is not a SQLite database; check database.path",
            path.display()
        )
    } else {
        anyhow::anyhow!("cannot read database {}: {error}", path.display())
    }
}

fn explain_fit(path: &Path, fit: SchemaFit) -> anyhow::Result<()> {
    let shown = path.display();
    match fit {
        SchemaFit::Current => Ok(()),
        SchemaFit::Behind { missing } => bail!(
            "database {shown} has an older schema (migrations {missing:?} not applied yet); run \
             `profile-outbox run` once to upgrade it, then try again"
        ),
        SchemaFit::Newer { unknown } => bail!(
            "database {shown} has a newer schema than this profile-outbox knows (migrations \
             {unknown:?}); use the profile-outbox that upgraded it"
        ),
        SchemaFit::Different { version } => bail!(
            "database {shown} records migration {version} with other content than this \
             profile-outbox's: it is not this project's schema"
        ),
        SchemaFit::Unfinished { version } => bail!(
            "database {shown}: migration {version} did not finish; start `profile-outbox run` to \
             see why"
        ),
    }
}
