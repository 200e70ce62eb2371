//! `enqueue` and the database's edges: values keep their JSON type, a row Target would refuse is
//! not added, a directory named as the database says so, and a command waits for another
//! program's write lock out loud instead of failing after 5 seconds.

use crate::admin_helpers::{output, run};
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

async fn attributes_of(app: &TestApp, id: i64) -> serde_json::Value {
    let text: String = sqlx::query_scalar("SELECT attributes FROM outbox WHERE id = ?")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("row exists");
    serde_json::from_str(&text).expect("attributes are JSON")
}

#[tokio::test]
async fn enqueue_stores_numbers_and_booleans_as_json_and_attr_str_as_text() {
    let app = TestApp::spawn("").await;

    let done = run(
        &app,
        &[
            "enqueue",
            "--mbox-pc",
            PC,
            "--attr",
            "visits=3",
            "--attr",
            "member=true",
            "--attr",
            "price=19.90",
            "--attr",
            "tier=gold",
            "--attr-str",
            "card=0042",
            "--attr-str",
            "zip=8001",
        ],
    );

    assert_eq!(done.code, Some(0), "{done:?}");
    let id: i64 = done.stdout.trim().parse().expect("the row's id");
    assert_eq!(
        attributes_of(&app, id).await,
        json!({"visits": 3, "member": true, "price": "19.90", "tier": "gold", "card": "0042",
               "zip": "8001"})
    );
}

#[tokio::test]
async fn enqueue_refuses_a_row_target_would_refuse_naming_the_field_and_the_rule() {
    let app = TestApp::spawn("").await;
    let ecid = "12345678901234567890123456789012345678";
    let long = format!("note={}", "x".repeat(300));

    let ecid_row = run(&app, &["enqueue", "--mbox-pc", ecid, "--attr", "tier=gold"]);
    let long_row = run(&app, &["enqueue", "--mbox-pc", PC, "--attr", &long]);

    assert_eq!(ecid_row.code, Some(2), "{ecid_row:?}");
    assert!(
        ecid_row.stderr.contains("not added")
            && ecid_row.stderr.contains("mbox_pc")
            && ecid_row.stderr.contains("Experience Cloud ID"),
        "{ecid_row:?}"
    );
    assert_eq!(long_row.code, Some(2), "{long_row:?}");
    assert!(
        long_row.stderr.contains("value of note") && long_row.stderr.contains("256"),
        "{long_row:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

#[test]
fn a_directory_named_as_the_database_is_called_a_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = {:?}\n",
            dir.path().display().to_string()
        ),
    )
    .expect("config written");
    let cases: [&[&str]; 3] = [
        &["status"],
        &["list"],
        &["enqueue", "--mbox-pc", PC, "--attr", "tier=gold"],
    ];
    for args in cases {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_profile-outbox"));
        command.arg("--config").arg(&config).args(args);
        let done = output(command);
        assert_eq!(done.code, Some(1), "{args:?}: {done:?}");
        assert!(
            done.stderr.contains("is a directory, not a database file")
                && !done.stderr.contains("does not exist"),
            "{args:?}: {done:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_wait_for_another_program_s_write_lock_saying_so_and_naming_it() {
    let app = TestApp::spawn("").await;
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    let mut holder = app.pool.acquire().await.expect("connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .expect("write lock taken");
    let cancel = app.command(&["cancel", &id.to_string()]);
    let enqueue = app.command(&["enqueue", "--mbox-pc", PC, "--attr", "visits=3"]);

    let started = Instant::now();
    let cancelling = tokio::task::spawn_blocking(move || output(cancel));
    let enqueueing = tokio::task::spawn_blocking(move || output(enqueue));
    // Longer than the 5 s the commands used to wait before failing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    sqlx::query("COMMIT")
        .execute(&mut *holder)
        .await
        .expect("write lock released");
    drop(holder);
    let cancelled = cancelling.await.expect("cancel ran");
    let enqueued = enqueueing.await.expect("enqueue ran");

    assert!(started.elapsed() >= Duration::from_secs(6));
    assert_eq!(cancelled.code, Some(0), "{cancelled:?}");
    assert_eq!(app.row(id).await.state, "cancelled");
    assert_eq!(enqueued.code, Some(0), "{enqueued:?}");
    for done in [&cancelled, &enqueued] {
        assert!(
            done.stderr.contains("waiting for the write lock")
                && done.stderr.contains(&format!("{} (", std::process::id())),
            "says it waits and names this test's process: {done:?}"
        );
    }
}
