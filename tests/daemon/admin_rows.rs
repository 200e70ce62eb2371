//! `profile-outbox list` and `show`: filters, order, the aligned table, the JSON documents, and the
//! plain-words reason a row is where it is.

use crate::admin_helpers::{age_row, listed_ids, run, set_state};
use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use profile_outbox::outbox::NewRow;
use serde_json::json;

async fn enqueue_from(app: &TestApp, pc: &str, source: &str) -> i64 {
    let serde_json::Value::Object(attributes) = json!({"tier": "gold"}) else {
        unreachable!()
    };
    app.enqueue(NewRow {
        mbox_pc: Some(pc.to_owned()),
        attributes,
        source: Some(source.to_owned()),
        ..NewRow::default()
    })
    .await
}

#[tokio::test]
async fn list_shows_rows_newest_first_in_an_aligned_table() {
    let app = TestApp::spawn("").await;
    let first = enqueue_from(&app, "1-1.01_00", "till").await;
    let second = enqueue_from(&app, "22-22.01_00", "loyalty-app").await;
    let third = enqueue_from(&app, "333-333.01_00", "call-center").await;
    set_state(&app, second, "failed").await;

    let done = run(&app, &["list"]);

    assert_eq!(done.code, Some(0), "{done:?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", done.stdout);
    assert!(lines[0].contains("ID  STATE"), "{}", lines[0]);
    for (line, id) in lines[1..].iter().zip([third, second, first]) {
        assert!(
            line.trim_start().starts_with(&format!("{id} ")),
            "newest first: {}",
            done.stdout
        );
    }
    let column = |name: &str| lines[0].find(name).expect("column");
    for line in &lines[1..] {
        let source = &line[column("SOURCE")..];
        assert!(
            ["till", "loyalty-app", "call-center"]
                .iter()
                .any(|s| source.starts_with(s)),
            "columns line up: {}",
            done.stdout
        );
    }
}

#[tokio::test]
async fn list_filters_by_state_visitor_source_and_age_in_either_order() {
    let app = TestApp::spawn("").await;
    let old_till = enqueue_from(&app, PC, "till").await;
    let failed = enqueue_from(&app, "1-1.01_00", "till").await;
    let app_row = enqueue_from(&app, PC, "loyalty-app").await;
    let third_party = app
        .insert_raw(None, Some("CRM-0042"), r#"{"tier":"gold"}"#)
        .await;
    set_state(&app, failed, "failed").await;
    age_row(&app, old_till, 3).await;

    let ids = |args: &[&str]| {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        listed_ids(&run(&app, &all).json())
    };

    assert_eq!(ids(&["--state", "failed"]), [failed]);
    assert_eq!(
        ids(&["--state", "failed,pending", "--oldest-first"]),
        [old_till, failed, app_row, third_party]
    );
    assert_eq!(ids(&["--mbox-pc", PC]), [app_row, old_till]);
    assert_eq!(ids(&["--mbox-3rd-party-id", "CRM-0042"]), [third_party]);
    assert_eq!(ids(&["--source", "till"]), [failed, old_till]);
    assert_eq!(ids(&["--older-than", "1d"]), [old_till]);
    assert_eq!(ids(&["--newer-than", "1d", "--source", "till"]), [failed]);
    assert_eq!(ids(&["--oldest-first", "--limit", "2"]), [old_till, failed]);
    let page = run(&app, &["list", "--json", "--limit", "2"]).json();
    assert_eq!(page["more"], json!(true));
}

#[tokio::test]
async fn list_json_is_one_document_with_every_column_and_wall_clock_times() {
    let app = TestApp::spawn("").await;
    let id = app
        .enqueue_pc(PC, json!({"tier": "gold", "visits": 3}))
        .await;

    let doc = run(&app, &["list", "--json"]).json();

    let row = &doc["rows"][0];
    assert_eq!(row["id"], json!(id));
    assert_eq!(row["state"], json!("pending"));
    assert_eq!(row["mbox_pc"], json!(PC));
    assert_eq!(row["visitor"], json!(format!("pc:{PC}")));
    assert_eq!(row["attributes"], json!({"tier": "gold", "visits": 3}));
    for field in [
        "mbox_3rd_party_id",
        "source",
        "created_at",
        "created_at_ms",
        "updated_at",
        "updated_at_ms",
        "next_attempt_at",
        "next_attempt_at_ms",
        "attempts",
        "sends",
        "send_alone",
        "last_status",
        "last_error",
    ] {
        assert!(row.get(field).is_some(), "{field} missing: {row}");
    }
    assert!(
        row["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{row}"
    );
    assert_eq!(doc["more"], json!(false));
}

#[tokio::test]
async fn show_explains_a_row_waiting_for_its_retry_after_the_answer_it_got() {
    let app = TestApp::spawn("[retry]\ninitial_delay = \"10m\"\nmax_delay = \"1h\"\n").await;
    app.target
        .answer_by_default(Reply::status(400, "invalid value"));
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    app.run_once().await;

    let text = run(&app, &["show", &id.to_string()]);
    let doc = run(&app, &["show", &id.to_string(), "--json"]).json();

    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout.contains("why:          waiting for retry at ")
            && text.stdout.contains("after HTTP 400"),
        "{}",
        text.stdout
    );
    assert!(
        doc["why"]
            .as_str()
            .is_some_and(|w| w.contains("after HTTP 400")),
        "{doc}"
    );
    assert!(doc["row"]["next_attempt_at_ms"].is_i64(), "{doc}");
    assert_eq!(doc["row"]["last_status"], json!(400));
}

#[tokio::test]
async fn show_explains_a_row_waiting_behind_an_older_row_of_its_visitor() {
    let app = TestApp::spawn("[retry]\ninitial_delay = \"10m\"\nmax_delay = \"1h\"\n").await;
    app.target
        .answer_by_default(Reply::status(400, "invalid value"));
    let older = app.enqueue_pc(PC, json!({"tier": "silver"})).await;
    app.run_once().await;
    let newer = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    let doc = run(&app, &["show", &newer.to_string(), "--json"]).json();
    let older_doc = run(&app, &["show", &older.to_string(), "--json"]).json();

    let why = doc["why"].as_str().unwrap_or_default();
    assert!(
        why.starts_with(&format!("waiting behind row {older} (pending)")),
        "{doc}"
    );
    assert_eq!(doc["waiting_behind"]["first_id"], json!(older));
    assert_eq!(older_doc["rows_waiting_behind"], json!(1));
}

#[tokio::test]
async fn show_explains_a_failed_row_by_its_field_and_the_rule_it_breaks() {
    let app = TestApp::spawn("").await;
    let id = app
        .enqueue_pc(PC, json!({"loyalty_note": "x".repeat(412)}))
        .await;
    app.run_once().await;

    let text = run(&app, &["show", &id.to_string()]).stdout;

    assert!(
        text.contains("failed: value of loyalty_note is 412 characters, Target allows 256"),
        "{text}"
    );
    assert!(
        text.contains("the row's own data is the cause")
            && text.contains(&format!("profile-outbox cancel {id}"))
            && !text.contains("once the cause is fixed"),
        "retrying would only fail again: {text}"
    );
}

#[tokio::test]
async fn show_explains_that_the_quota_is_spent_and_until_when() {
    let app = TestApp::spawn("[quota]\ncalls_per_day = 1\n").await;
    app.enqueue_pc("1-1.01_00", json!({"tier": "gold"})).await;
    app.run_once().await;
    let waiting = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    let doc = run(&app, &["show", &waiting.to_string(), "--json"]).json();
    let status = run(&app, &["status", "--json"]).json();

    let why = doc["why"].as_str().unwrap_or_default();
    assert!(why.starts_with("quota spent until "), "{doc}");
    assert_eq!(status["quota"]["left"], json!(0));
    let free = status["quota"]["next_free_at_ms"]
        .as_i64()
        .expect("spent until");
    let checked = status["checked_at_ms"].as_i64().expect("checked");
    assert!(
        free > checked + 23 * 3_600_000 && free < checked + 25 * 3_600_000,
        "the call ages out about a day later: {status}"
    );
}

#[tokio::test]
async fn show_of_a_missing_row_says_so() {
    let app = TestApp::spawn("").await;

    let done = run(&app, &["show", "42"]);

    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("there is no row 42"), "{done:?}");
}

#[tokio::test]
async fn list_gives_a_pipe_whole_values_and_fits_a_terminal_s_width() {
    let app = TestApp::spawn("").await;
    let error = format!(
        "Target refused the row 5 times; last answer HTTP 400: {}",
        "x".repeat(80)
    );
    let id = app
        .enqueue(profile_outbox::outbox::NewRow {
            mbox_pc: Some(PC.to_owned()),
            attributes: json!({"tier": "gold"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            source: Some("profile-outbox enqueue".into()),
            ..Default::default()
        })
        .await;
    set_state(&app, id, "failed").await;
    sqlx::query("UPDATE outbox SET last_error = ? WHERE id = ?")
        .bind(&error)
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("error set");

    let piped = run(&app, &["list"]);
    // `script` gives the command a terminal 100 columns wide.
    let line = format!(
        "stty cols 100; '{}' --config '{}' list",
        env!("CARGO_BIN_EXE_profile-outbox"),
        app.config_path.display()
    );
    let mut command = std::process::Command::new("script");
    command.args(["-qec", &line, "/dev/null"]);
    let on_terminal = crate::admin_helpers::output(command);

    assert_eq!(piped.code, Some(0), "{piped:?}");
    assert!(
        piped.stdout.contains("profile-outbox enqueue") && piped.stdout.contains(&error),
        "a pipe gets every value whole: {}",
        piped.stdout
    );
    assert_eq!(on_terminal.code, Some(0), "{on_terminal:?}");
    let lines: Vec<&str> = on_terminal.stdout.lines().map(str::trim_end).collect();
    assert_eq!(lines.len(), 2, "{on_terminal:?}");
    assert!(
        lines.iter().all(|l| l.chars().count() <= 100),
        "every line fits 100 columns: {lines:#?}"
    );
    assert!(lines[1].ends_with('…'), "{lines:#?}");
}

#[tokio::test]
async fn show_and_status_give_a_pipe_long_texts_whole_and_count_in_words() {
    let app = TestApp::spawn("").await;
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;
    let error = format!(
        "Target refused the row; last answer HTTP 400: {}",
        "y".repeat(1500)
    );
    sqlx::query("UPDATE outbox SET state = 'failed', sends = 1, last_error = ?1 WHERE id = ?2")
        .bind(&error)
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("row failed");
    sqlx::query("UPDATE daemon_state SET last_error = ?1, last_error_at = 1 WHERE id = 1")
        .bind(&error)
        .execute(&app.pool)
        .await
        .expect("state saved");

    let shown = run(&app, &["show", &id.to_string()]);
    let status = run(&app, &["status"]);

    assert!(
        shown.stdout.contains(&format!("last error:   {error}\n")),
        "{shown:?}"
    );
    assert!(shown.stdout.contains("; 1 request made\n"), "{shown:?}");
    assert!(status.stdout.contains(&error), "{status:?}");
    assert!(
        status.stdout.contains("1 failed row waits for an operator"),
        "{status:?}"
    );
}
