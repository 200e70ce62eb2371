//! A history's surroundings: its folder, its settings read by the real loader, and producers'
//! values bound in the storage class they chose.

use super::TIMEOUT_MS;
use crate::plan::History;
use crate::rows::Cell;
use anyhow::Context;
use profile_outbox::config::{self, Settings};
use std::collections::HashMap;

pub type Scalar<'q> =
    sqlx::query::QueryScalar<'q, sqlx::Sqlite, i64, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds a cell as two parameters: its value, and whether the statement is to store it as TEXT
/// (`CAST(? AS TEXT)`, the only way to write TEXT that is not UTF-8: the driver binds strings
/// from Rust, which are).
pub fn bind<'q>(query: Scalar<'q>, cell: &'q Cell) -> Scalar<'q> {
    let query = match cell {
        Cell::Null => query.bind(None::<String>),
        Cell::Text(text) => query.bind(text.as_str()),
        Cell::Int(n) => query.bind(*n),
        Cell::Real(x) => query.bind(*x),
        Cell::Blob(bytes) | Cell::BadText(bytes) => query.bind(bytes.as_slice()),
    };
    query.bind(matches!(cell, Cell::BadText(_)))
}

/// A column's value in an INSERT whose parameters `bind` wrote: parameter `n` is the value,
/// `n + 1` whether it is to be stored as TEXT.
pub fn column(n: usize) -> String {
    format!("IIF(?{}, CAST(?{n} AS TEXT), ?{n})", n + 1)
}

/// A folder for one history's database: in memory (`/dev/shm`) where there is one, since the
/// disk's fsyncs would cost most of a history's time and are not what the simulation tests.
pub fn temporary_folder() -> anyhow::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.context("cannot make a temporary folder for a history")
}

/// The history's settings, written as a config file and read by the real loader.
pub fn load_settings(
    history: &History,
    dir: &std::path::Path,
    database: &std::path::Path,
) -> anyhow::Result<Settings> {
    let c = &history.config;
    let text = format!(
        "[database]\npath = {database:?}\n\n\
         [target]\nclient_code = \"sim\"\ntimeout = \"{TIMEOUT_MS}ms\"\nmethod = \"{method}\"\n\n\
         [quota]\ncalls_per_day = {calls}\nmax_per_second = 100000\nburst = 1000\ncoalesce = {coalesce}\nmax_rows_per_call = {rows}\n\n\
         [retry]\ninitial_delay = \"1s\"\nmax_delay = \"5m\"\nmax_attempts = {attempts}\nmax_retry_after = \"1h\"\n\n\
         [workers]\nconcurrency = {concurrency}\nbatch_size = {batch}\npoll_interval = \"50ms\"\nshutdown_deadline = \"10s\"\n",
        database = database.display().to_string(),
        method = if c.post { "post" } else { "get" },
        calls = c.calls_per_day,
        coalesce = c.coalesce,
        rows = c.max_rows_per_call,
        attempts = c.max_attempts,
        concurrency = c.concurrency,
        batch = c.batch_size,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    config::load(Some(&path), Some(HashMap::new()))
}
