//! Answers and tokens read the right way: a 4xx about the path, a proxy or the connection never
//! counts against a row, and a token that cannot go into a header is refused where it is read,
//! so no request (and no quota call) is ever spent on a request that cannot be built.

use crate::admin_helpers::output;
use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp, wait_exit};
use profile_outbox::token_watch::TokenWatch;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn answers_about_the_path_a_proxy_or_the_connection_never_count_against_the_row() {
    let app = TestApp::spawn(
        "[retry]\nmax_attempts = 1\ninitial_delay = \"10ms\"\nmax_delay = \"20ms\"\n",
    )
    .await;
    for status in [404, 405, 407, 408, 410, 421, 426, 431, 451] {
        app.target
            .script([Reply::status(status, "<html>proxy page</html>")]);
        let id = app.enqueue_pc(PC, json!({"a": "1"})).await;
        app.run_once().await;
        let row = app.row(id).await;
        assert_eq!(
            (row.state.as_str(), row.attempts, row.last_status),
            ("pending", 0, Some(i64::from(status))),
            "{status}: {row:?}"
        );
        app.clock.advance(Duration::from_millis(50));
        app.drain().await;
        assert_eq!(app.row(id).await.state, "delivered", "{status}");
    }
    assert_eq!(app.attempts_counted().await, 0);
}

#[tokio::test]
async fn a_token_with_an_inner_newline_stops_check_config_and_run_naming_the_file_not_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cr3t-first\nsecond-half\n").expect("token written");
    let app = TestApp::spawn(&format!(
        "[target]\ntoken_file = {:?}\n",
        token_file.display().to_string()
    ))
    .await;
    app.enqueue_pc(PC, json!({"a": "1"})).await;

    let checked = output(app.command(&["check-config"]));
    assert_ne!(checked.code, Some(0), "{checked:?}");
    let file = token_file.display().to_string();
    assert!(checked.stderr.contains(&file), "{checked:?}");
    assert!(
        checked.stderr.contains("a line break at character 13"),
        "{checked:?}"
    );
    let mut daemon = app
        .command(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("daemon starts");
    let status = wait_exit(&mut daemon, Duration::from_secs(20)).await;
    assert!(!status.success(), "{status:?}");
    let mut stderr = String::new();
    if let Some(mut pipe) = daemon.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr reads");
    }
    assert!(
        stderr.contains(&file) && stderr.contains("a line break"),
        "{stderr}"
    );
    for shown in [&checked.stdout, &checked.stderr, &stderr] {
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("second-half"),
            "{shown}"
        );
    }
    assert_eq!(app.target.received().len(), 0);
    assert_eq!(app.calls_booked().await, 0);
}

#[tokio::test]
async fn a_token_file_rewritten_with_an_inner_newline_keeps_the_token_in_use_and_spends_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok-123\n").expect("token written");
    let app = TestApp::spawn(&format!(
        "[target]\ntoken_file = {:?}\n",
        token_file.display().to_string()
    ))
    .await;
    app.target.require_token("tok-123");
    let token = profile_outbox::config::Token::read_file(&token_file).expect("token reads");
    let mut watch = TokenWatch::new(Some(token_file.clone()), token);
    std::fs::write(&token_file, "tok-456\nnext\n").expect("token rewritten");

    assert!(!watch.check(&app.deliverer), "the broken token was taken");
    let id = app.enqueue_pc(PC, json!({"a": "1"})).await;
    app.run_once().await;

    assert_eq!(app.row(id).await.state, "delivered");
    let received = app.target.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer tok-123"));
    assert_eq!(app.calls_booked().await, 1);
}
