//! README shows the refusals a producer sees from Debian 12's `sqlite3` word for word: each line
//! of that block is what `sqlite3` prints for a script shaped like README's example.

use crate::helpers::TestApp;
use std::io::Write;
use std::process::{Command, Stdio};

/// The lines of the fenced block that follows `marker` in README.md.
fn readme_block_after(marker: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let after = &readme[readme.find(marker).expect("README has the marker")..];
    let start = after.find("```\n").expect("a block follows") + 4;
    let end = after[start..].find("```").expect("the block ends") + start;
    after[start..end].lines().map(str::to_owned).collect()
}

/// Runs README's example shape (`.timeout`, then an INSERT over two lines) through `sqlite3`.
fn sqlite3_refusal(database: &str, columns: &str, values: &str) -> String {
    let script = format!(".timeout 60000\nINSERT INTO outbox ({columns})\nVALUES ({values});\n");
    let mut child = Command::new("sqlite3")
        .arg(database)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sqlite3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script written");
    let output = child.wait_with_output().expect("sqlite3 ends");
    String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_owned()
}

#[tokio::test]
async fn the_refusals_readme_shows_are_what_sqlite3_prints() {
    let app = TestApp::spawn("").await;
    let database = app.database().display().to_string();
    let shown = readme_block_after("Debian 12's `sqlite3` (3.40) prints");
    let rows = [
        ("attributes, source", "'{\"a\":1}', 'app'"),
        (
            "mbox_pc, mbox_3rd_party_id, attributes",
            "'1-1.01_00', 'CRM-1', '{\"a\":1}'",
        ),
        ("mbox_pc, attributes", "'1-1.01_00', '{bad'"),
        ("mbox_pc, attributes", "'1-1.01_00', '[1]'"),
        ("mbox_pc, attributes", "x'31', '{\"a\":1}'"),
    ];
    let printed: Vec<String> = rows
        .iter()
        .map(|(columns, values)| sqlite3_refusal(&database, columns, values))
        .collect();
    assert_eq!(printed, shown);
}
