//! What the admin command tests share: running the built binary with the test's config and
//! reading what it printed, and putting rows into states by hand.

use crate::helpers::TestApp;
use std::process::Command;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parses stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
}

/// Runs `profile-outbox <args>` with the app's config.
pub fn run(app: &TestApp, args: &[&str]) -> Run {
    output(app.command(args))
}

pub fn output(mut command: Command) -> Run {
    let output = command.output().expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Puts a row in `state` with plain SQL, as a crash or an earlier run could have left it.
pub async fn set_state(app: &TestApp, id: i64, state: &str) {
    sqlx::query("UPDATE outbox SET state = ? WHERE id = ?")
        .bind(state)
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("state set");
}

/// Makes a row look `days` days older.
pub async fn age_row(app: &TestApp, id: i64, days: i64) {
    sqlx::query("UPDATE outbox SET created_at = created_at - ? WHERE id = ?")
        .bind(days * 86_400_000)
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("row aged");
}

/// The ids in a `list --json` document, in order.
pub fn listed_ids(doc: &serde_json::Value) -> Vec<i64> {
    doc["rows"]
        .as_array()
        .expect("rows is a list")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}
