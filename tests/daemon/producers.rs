//! Producers writing plain SQL: the README's examples as written, the schema's refusals, and
//! several producers inserting while the daemon drains.

use crate::helpers::TestApp;
use std::process::Command;

/// The path the README's examples use; tests point it at their own database.
const README_DATABASE: &str = "/var/lib/profile-outbox/outbox.db";

/// The fenced block that follows `<!-- example: NAME -->` in README.md.
fn readme_example(name: &str) -> String {
    let readme = include_str!("../../README.md");
    let marker = format!("<!-- example: {name} -->");
    let after = readme
        .split_once(&marker)
        .map(|(_, rest)| rest)
        .expect("README has the example");
    let body = after
        .split_once("```")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(_, rest)| rest);
    let block = body
        .and_then(|b| b.split_once("```"))
        .map(|(block, _)| block)
        .expect("a fenced block");
    assert!(
        block.contains(README_DATABASE),
        "the example names the default database path"
    );
    block.to_owned()
}

fn run_shell(script: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .expect("bash runs")
}

#[tokio::test]
async fn the_readme_sqlite3_example_inserts_a_row_the_daemon_delivers() {
    let app = TestApp::spawn("").await;
    let script =
        readme_example("sqlite3").replace(README_DATABASE, &app.database().display().to_string());

    let output = run_shell(&script);

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    app.drain().await;
    assert_eq!(app.count("delivered").await, 1);
    let request = &app.target.received()[0];
    assert_eq!(
        request.param("mboxPC").as_deref(),
        Some("1368007744041-575948.01_00")
    );
    assert_eq!(
        request.param("profile.loyalty_tier").as_deref(),
        Some("gold")
    );
}

#[tokio::test]
async fn the_readme_python_example_inserts_a_row_the_daemon_delivers() {
    let app = TestApp::spawn("").await;
    let script =
        readme_example("python").replace(README_DATABASE, &app.database().display().to_string());

    let output = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 runs");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    app.drain().await;
    let request = &app.target.received()[0];
    assert_eq!(request.param("mbox3rdPartyId").as_deref(), Some("CRM-0042"));
    assert_eq!(
        request.param("profile.loan_amount").as_deref(),
        Some("25000")
    );
}

#[tokio::test]
async fn the_schema_refuses_structurally_wrong_rows_at_insert_with_a_reason() {
    let app = TestApp::spawn("").await;
    let db = app.database().display().to_string();
    let cases = [
        (
            "INSERT INTO outbox (attributes) VALUES ('{\"a\":1}');",
            "set one of mbox_pc or mbox_3rd_party_id",
        ),
        (
            "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes) VALUES ('1-1.01_00', 'c', '{\"a\":1}');",
            "not both",
        ),
        (
            "INSERT INTO outbox (mbox_pc, attributes) VALUES ('1-1.01_00', 'gold');",
            "must be valid JSON",
        ),
        (
            "INSERT INTO outbox (mbox_pc, attributes) VALUES ('1-1.01_00', '[\"gold\"]');",
            "must be a JSON object",
        ),
        (
            "INSERT INTO outbox (mbox_pc) VALUES ('1-1.01_00');",
            "NOT NULL constraint failed: outbox.attributes",
        ),
    ];
    for (sql, reason) in cases {
        let output = Command::new("sqlite3")
            .arg(&db)
            .arg(sql)
            .output()
            .expect("sqlite3 runs");
        assert!(!output.status.success(), "{sql}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(reason), "{sql}: {message}");
    }
    assert_eq!(app.count("pending").await, 0, "nothing was inserted");
}
