//! The admin commands open only an existing outbox with this binary's schema, never create or
//! migrate one, and end quietly when their reader goes away.

use crate::admin_helpers::{output, run};
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const ADMIN_COMMANDS: [&[&str]; 6] = [
    &["status"],
    &["list"],
    &["show", "1"],
    &["retry", "1"],
    &["cancel", "1"],
    &["purge", "--older-than", "1d"],
];

/// The binary with a config whose database is `database`.
fn binary_for(dir: &Path, database: &Path, args: &[&str]) -> Command {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[database]\npath = {:?}\n", database.display().to_string()),
    )
    .expect("config written");
    let mut command = Command::new(env!("CARGO_BIN_EXE_profile-outbox"));
    command.arg("--config").arg(&config).args(args);
    command
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir reads")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_admin_command_on_a_missing_database_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("outbox.db");
    for args in ADMIN_COMMANDS {
        let done = output(binary_for(dir.path(), &database, args));
        assert_eq!(done.code, Some(1), "{args:?}: {done:?}");
        assert!(
            done.stderr
                .contains(&format!("database {} does not exist", database.display())),
            "{args:?}: {done:?}"
        );
        assert!(!done.stderr.contains("panicked"), "{done:?}");
        assert_eq!(files_in(dir.path()), ["config.toml"], "after {args:?}");
    }
}

#[tokio::test]
async fn a_sqlite_file_that_is_not_an_outbox_is_refused_by_name_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shop.db");
    let status = Command::new("sqlite3")
        .arg(&database)
        .arg("CREATE TABLE till (sale INTEGER); INSERT INTO till VALUES (1);")
        .status()
        .expect("sqlite3 runs");
    assert!(status.success());
    let before = std::fs::read(&database).expect("file reads");

    for args in ADMIN_COMMANDS {
        let done = output(binary_for(dir.path(), &database, args));
        assert_eq!(done.code, Some(1), "{args:?}: {done:?}");
        assert!(
            done.stderr.contains(&format!(
                "{} is not a profile-outbox database",
                database.display()
            )),
            "{args:?}: {done:?}"
        );
    }
    assert_eq!(std::fs::read(&database).expect("file reads"), before);
    assert_eq!(files_in(dir.path()), ["config.toml", "shop.db"]);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("outbox.db");
    std::fs::write(&database, "these are notes, not a database\n".repeat(200)).expect("written");

    let done = output(binary_for(dir.path(), &database, &["status"]));

    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(
        done.stderr
            .contains(&format!("{} is not a SQLite database", database.display())),
        "{done:?}"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_an_older_one_is_left_for_run_to_upgrade() {
    let app = TestApp::spawn("").await;
    let record = |sql: &'static str| sqlx::query(sql).execute(&app.pool);
    record(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .await
    .expect("recorded");
    let newer = run(&app, &["status"]);
    assert_eq!(newer.code, Some(1), "{newer:?}");
    assert!(
        newer.stderr.contains("newer schema") && newer.stderr.contains("9999"),
        "{newer:?}"
    );

    record("DELETE FROM _sqlx_migrations WHERE version >= 3")
        .await
        .expect("deleted");
    let older = run(&app, &["list"]);
    assert_eq!(older.code, Some(1), "{older:?}");
    assert!(
        older.stderr.contains("older schema") && older.stderr.contains("`profile-outbox run`"),
        "{older:?}"
    );
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&app.pool)
        .await
        .expect("counted");
    assert_eq!(versions, 2, "an admin command never migrates");
}

/// Runs `<binary> <args> | head -1` in bash, pipefail off.
fn into_head(app: &TestApp, args: &str) -> crate::admin_helpers::Run {
    let line = format!(
        "'{}' --config '{}' {args} | head -1",
        env!("CARGO_BIN_EXE_profile-outbox"),
        app.config_path.display()
    );
    let mut command = Command::new("bash");
    command.arg("-c").arg(line);
    output(command)
}

#[tokio::test]
async fn output_piped_into_head_ends_quietly() {
    let app = TestApp::spawn("").await;
    // Far more than a pipe holds (64 KiB), so the writer meets the closed pipe.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO outbox (mbox_pc, attributes, source)
         SELECT i || '-1.01_00', '{\"tier\":\"gold\"}', 'loyalty-app' FROM n",
    )
    .execute(&app.pool)
    .await
    .expect("rows inserted");
    let id = app
        .enqueue_pc(PC, json!({"note": "x".repeat(200)}))
        .await
        .to_string();

    for args in [
        "list --limit 3000".to_owned(),
        "list --limit 3000 --json".to_owned(),
        format!("show {id}"),
        "status".to_owned(),
    ] {
        let done = into_head(&app, &args);
        assert_eq!(done.code, Some(0), "{args}: {done:?}");
        assert_eq!(done.stderr, "", "{args}");
        assert_eq!(done.stdout.lines().count(), 1, "{args}");
    }
}
