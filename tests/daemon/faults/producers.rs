//! Producers: four processes inserting while the daemon drains, one killed halfway through a
//! transaction, one holding the write lock. None using the README's settings sees "database is
//! locked", and the daemon recovers by itself.

use super::checker::check;
use super::scale::scale;
use crate::helpers::TestApp;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The README's Python settings: `timeout=60.0`, one transaction per insert.
const PRODUCER: &str = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=60.0)
name, rows = sys.argv[2], int(sys.argv[3])
for i in range(rows):
    with db:
        db.execute(
            "INSERT INTO outbox (mbox_3rd_party_id, attributes, source) VALUES (?, ?, ?)",
            ("%s-%d" % (name, i % 25), json.dumps({"seq": i // 25 + 1}), name),
        )
db.close()
"#;

/// Opens a transaction, inserts, says so, and waits to be killed before it commits.
const KILLED_MID_TRANSACTION: &str = r#"
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60.0, isolation_level=None)
db.execute("BEGIN")
for i in range(50):
    db.execute("INSERT INTO outbox (mbox_3rd_party_id, attributes) VALUES (?, ?)", ("killed-%d" % i, json.dumps({"seq": 1})))
print("inserted", flush=True)
time.sleep(600)
"#;

/// Takes the write lock and keeps it.
const LOCK_HOLDER: &str = r#"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60.0, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"#;

fn python(script: &str, args: &[&str]) -> std::process::Child {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts")
}

fn wait_for_line(child: &mut std::process::Child) {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("a line");
    assert!(!line.is_empty(), "the helper script ended early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_killed_or_holding_the_lock_never_cost_a_committed_row() {
    let scale = scale();
    let app = TestApp::spawn("").await;
    let db = app.database().display().to_string();
    let rows = scale.producer_rows.to_string();
    let mut daemon = app.spawn_daemon();

    let mut killed = python(KILLED_MID_TRANSACTION, &[&db]);
    wait_for_line(&mut killed);
    let producers: Vec<_> = (0..4)
        .map(|p| python(PRODUCER, &[&db, &format!("producer{p}"), &rows]))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    killed.kill().expect("SIGKILL");
    let _ = killed.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut holder = python(LOCK_HOLDER, &[&db, &scale.lock_hold_secs.to_string()]);
    wait_for_line(&mut holder);
    for producer in producers {
        let output = producer.wait_with_output().expect("producer ends");
        let errors = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && errors.is_empty(),
            "a producer failed: {errors}"
        );
    }
    assert!(holder.wait().expect("lock holder ends").success());

    let total = 4 * scale.producer_rows;
    app.wait_delivered(total, Duration::from_secs(600)).await;
    app.stop_daemon(&mut daemon, Duration::from_secs(30)).await;
    let uncommitted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE mbox_3rd_party_id LIKE 'killed-%'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(
        uncommitted, 0,
        "the killed producer's transaction was rolled back"
    );

    let mut verdict = check("producers", &app.pool, &app.target.received(), 1_000_000).await;
    let daemon_lock_errors = app.daemon_log().matches("database is locked").count();
    verdict.extra = format!(
        "producers=4 rows_each={} lock_held={}s daemon_retries_on_lock={daemon_lock_errors}",
        scale.producer_rows, scale.lock_hold_secs
    );
    verdict.assert_clean();
}
