//! Figure 4, producer cost: one producer doing one INSERT per transaction (autocommit) with the
//! README's settings, into the daemon's `outbox` (its triggers, indexes and AUTOINCREMENT) and into
//! a bare table with the same columns and defaults but no index, trigger, CHECK or generated
//! column. Each table lives in its own fresh WAL database in the same folder.

use crate::RUNS;
use crate::support::database;
use crate::support::report::{Goal, Report};
use crate::support::stats::{list, median};
use sqlx::SqliteConnection;
use std::path::Path;
use std::time::Instant;

/// Inserts per table per run.
const PRODUCER_INSERTS: usize = 5_000;

/// The bare table: the outbox's stored columns and defaults, nothing else.
const BARE_TABLE: &str = "
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, mbox_pc TEXT, mbox_3rd_party_id TEXT, attributes TEXT NOT NULL,
        source TEXT,
        created_at INTEGER NOT NULL
            DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
        state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        sends INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER, last_error TEXT, updated_at INTEGER,
        send_alone INTEGER NOT NULL DEFAULT 0)";

/// The README's Python producer's row.
const INSERT: &str =
    "INSERT INTO outbox (mbox_3rd_party_id, attributes, source) VALUES (?1, ?2, ?3)";

/// Inserts made (untimed) before timing, so both files are past their first pages.
const WARM_UP: usize = 200;

/// Inserts a second into each table in one run.
#[derive(Clone, Copy, Debug)]
pub struct ProducerRun {
    pub outbox_per_second: f64,
    pub bare_per_second: f64,
}

/// One run of `inserts` into each table; `outbox_first` alternates which goes first.
pub async fn run_once(inserts: usize, outbox_first: bool) -> anyhow::Result<ProducerRun> {
    let dir = tempfile::tempdir()?;
    let ours = dir.path().join("outbox.db");
    database::open_as_daemon(&ours, 1).await?.close().await;
    let bare = dir.path().join("bare.db");
    create_bare(&bare).await?;
    let (outbox_per_second, bare_per_second) = if outbox_first {
        let ours = insert_rate(&ours, inserts).await?;
        (ours, insert_rate(&bare, inserts).await?)
    } else {
        let bare = insert_rate(&bare, inserts).await?;
        (insert_rate(&ours, inserts).await?, bare)
    };
    Ok(ProducerRun {
        outbox_per_second,
        bare_per_second,
    })
}

async fn create_bare(path: &Path) -> anyhow::Result<()> {
    let pool = profile_outbox::db::open(
        path,
        profile_outbox::db::OpenMode::CreateIfMissing,
        profile_outbox::db::Durability::Full,
        std::time::Duration::from_secs(5),
        1,
    )
    .await?;
    sqlx::query(BARE_TABLE).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

async fn insert_rate(path: &Path, inserts: usize) -> anyhow::Result<f64> {
    let mut conn = database::connect_producer(path).await?;
    insert(&mut conn, 0, WARM_UP).await?;
    let started = Instant::now();
    insert(&mut conn, WARM_UP, inserts).await?;
    Ok(inserts as f64 / started.elapsed().as_secs_f64())
}

async fn insert(conn: &mut SqliteConnection, first: usize, count: usize) -> anyhow::Result<()> {
    for n in first..first + count {
        sqlx::query(INSERT)
            .bind(format!("CRM-{n:06}"))
            .bind(r#"{"loan_funded":"2026-11-28","loan_amount":25000}"#)
            .bind("loan-desk")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Runs the figure and adds its lines to `report`.
pub async fn report(report: &mut Report) -> anyhow::Result<()> {
    println!(
        "4. Producer cost: one INSERT per transaction, synchronous=FULL, WAL, {PRODUCER_INSERTS} inserts x {RUNS}"
    );
    let mut runs = Vec::new();
    for run in 0..RUNS {
        runs.push(run_once(PRODUCER_INSERTS, run % 2 == 0).await?);
    }
    let ours: Vec<f64> = runs.iter().map(|r| r.outbox_per_second).collect();
    let bare: Vec<f64> = runs.iter().map(|r| r.bare_per_second).collect();
    let ratios: Vec<f64> = runs
        .iter()
        .map(|r| r.outbox_per_second / r.bare_per_second)
        .collect();
    report.add_with(
        "Producer inserts into outbox",
        median(&ours),
        "ins/s",
        Goal::None,
        format!("runs {}", list(&ours, 0)),
    );
    report.add_with(
        "Producer inserts into a bare table",
        median(&bare),
        "ins/s",
        Goal::None,
        format!("runs {}", list(&bare, 0)),
    );
    report.add_with(
        "Producer outbox / bare",
        median(&ratios),
        "ratio",
        Goal::AtLeast(0.8),
        format!("runs {}", list(&ratios, 3)),
    );
    Ok(())
}
