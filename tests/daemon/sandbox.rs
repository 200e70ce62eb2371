//! `run --sandbox` (README's first command) keeps away from real work: it delivers from its own
//! database in the current folder, never from `database.path`, and a real `run` refuses the
//! sandbox's database.

use crate::helpers::{PC, row_view, terminate, wait_exit};
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::outbox::{self, NewRow};
use sqlx::SqlitePool;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);
const SANDBOX_DATABASE: &str = "profile-outbox-sandbox.db";

async fn open(path: &Path, mode: OpenMode) -> SqlitePool {
    db::open(path, mode, Durability::Normal, Duration::from_secs(5), 1)
        .await
        .expect("database opens")
}

/// A producer's outbox with one row waiting for Adobe.
async fn producer_outbox(path: &Path) -> (SqlitePool, i64) {
    let pool = open(path, OpenMode::CreateIfMissing).await;
    db::migrate(&pool, path).await.expect("schema");
    let mut attributes = serde_json::Map::new();
    attributes.insert("loyalty_tier".into(), "gold".into());
    let row = NewRow {
        mbox_pc: Some(PC.to_owned()),
        attributes,
        ..NewRow::default()
    };
    let id = outbox::enqueue(&pool, &row).await.expect("row added");
    (pool, id)
}

/// The binary in `folder`, with the built-in defaults except `database.path`.
fn binary(folder: &Path, database: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_profile-outbox"));
    command
        .current_dir(folder)
        .env_remove("RUST_LOG")
        .env("PROFILE_OUTBOX__DATABASE__PATH", database);
    command
}

/// A daemon that is killed if the test ends before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `run --sandbox` in `folder`, its log in `log_path`, and waits until it delivers.
async fn start_sandbox(folder: &Path, database: &Path, log_path: &Path) -> Running {
    let log = std::fs::File::create(log_path).expect("log file");
    let daemon = Running(
        binary(folder, database)
            .args(["run", "--sandbox"])
            .stderr(log)
            .spawn()
            .expect("sandbox starts"),
    );
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        if log.contains("delivering rows") {
            return daemon;
        }
        assert!(start.elapsed() < LONG, "sandbox did not start: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `command`, which must exit non-zero within `LONG` (else it is killed and the test fails),
/// and returns what it wrote to standard error.
async fn refused(command: &mut Command) -> String {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let start = Instant::now();
    while child.try_wait().expect("child status").is_none() {
        if start.elapsed() > LONG {
            let _ = child.kill();
            panic!("{command:?} kept running instead of refusing");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let output = child.wait_with_output().expect("output");
    assert!(!output.status.success(), "{command:?} succeeded");
    text(&output)
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_delivers_from_its_own_database_and_never_touches_the_producers_outbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    let production = dir.path().join("outbox.db");
    let (producer_pool, producer_row) = producer_outbox(&production).await;
    let log_path = dir.path().join("log");
    let mut daemon = start_sandbox(dir.path(), &production, &log_path).await;
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let enqueued = binary(dir.path(), Path::new(SANDBOX_DATABASE))
        .args(["enqueue", "--mbox-pc", PC, "--attr", "loyalty_tier=gold"])
        .output()
        .expect("enqueue runs");
    assert!(enqueued.status.success(), "{}", text(&enqueued));
    let id: i64 = String::from_utf8_lossy(&enqueued.stdout)
        .trim()
        .parse()
        .expect("enqueue prints the row id");
    let sandbox_pool = open(&dir.path().join(SANDBOX_DATABASE), OpenMode::MustExist).await;
    let start = Instant::now();
    while row_view(&sandbox_pool, id).await.state != "delivered" {
        assert!(start.elapsed() < LONG, "row not delivered: {}", read_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminate(&daemon.0);
    assert!(wait_exit(&mut daemon.0, LONG).await.success());

    assert!(
        read_log().contains("NOTHING REACHES ADOBE"),
        "{}",
        read_log()
    );
    assert_eq!(
        row_view(&producer_pool, producer_row).await.state,
        "pending"
    );
    let calls: i64 = sqlx::query_scalar("SELECT count(*) FROM quota_ledger")
        .fetch_one(&producer_pool)
        .await
        .expect("ledger");
    let states: i64 = sqlx::query_scalar("SELECT count(*) FROM daemon_state")
        .fetch_one(&producer_pool)
        .await
        .expect("state");
    assert_eq!(
        (calls, states),
        (0, 0),
        "the sandbox left the real outbox alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_refuses_the_sandboxs_database_and_the_sandbox_refuses_an_outbox_it_did_not_make()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox_database = dir.path().join(SANDBOX_DATABASE);
    let unused = dir.path().join("unused.db");
    let mut daemon = start_sandbox(dir.path(), &unused, &dir.path().join("log")).await;
    terminate(&daemon.0);
    assert!(wait_exit(&mut daemon.0, LONG).await.success());

    let real = refused(
        binary(dir.path(), &sandbox_database)
            .env("PROFILE_OUTBOX__TARGET__CLIENT_CODE", "acme")
            .arg("run"),
    )
    .await;
    let other = tempfile::tempdir().expect("temp dir");
    producer_outbox(&other.path().join(SANDBOX_DATABASE)).await;
    let sandbox = refused(binary(other.path(), &unused).args(["run", "--sandbox"])).await;

    assert!(real.contains("is a sandbox database"), "{real}");
    assert!(sandbox.contains("not the sandbox's"), "{sandbox}");
}
