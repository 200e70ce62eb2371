//! `retry` keeps a visitor's order: an older failed row is not sent after a newer row of its
//! visitor that is in flight or delivered, unless the operator says so, also when the daemon sends
//! the newer row while `retry` runs. And a row whose own data breaks Target's rules is not retried
//! to fail again. Judged from what the fake Target received.

use crate::admin_helpers::{output, run, set_state};
use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use profile_outbox::admin::{self, Change, OrderGuard, RowFilter};
use serde_json::json;
use std::time::Duration;

const ONE_TRY: &str = "[retry]\nmax_attempts = 1\n";

/// A row Target refused until it failed (`retry.max_attempts = 1`).
async fn refused_row(app: &TestApp, pc: &str, tier: &str) -> i64 {
    app.target
        .answer_by_default(Reply::status(400, "invalid value"));
    let id = app.enqueue_pc(pc, json!({ "tier": tier })).await;
    app.run_once().await;
    assert_eq!(app.row(id).await.state, "failed");
    app.target.answer_by_default(Reply::ok());
    id
}

/// The `profile.tier` values Target received for visitor `pc`, in order of arrival.
fn tiers_received(app: &TestApp, pc: &str) -> Vec<String> {
    app.target
        .received()
        .iter()
        .filter(|r| r.param("mboxPC").as_deref() == Some(pc))
        .filter_map(|r| r.param("profile.tier"))
        .collect()
}

/// Fails when `older` reached Target after `newer` had.
fn assert_never_older_after_newer(tiers: &[String], older: &str, newer: &str) {
    if let Some(first_newer) = tiers.iter().position(|t| t == newer) {
        assert!(
            !tiers[first_newer..].iter().any(|t| t == older),
            "Target received the older value {older:?} after the newer {newer:?}: {tiers:?}"
        );
    }
}

#[tokio::test]
async fn retry_refuses_an_older_row_after_a_newer_delivered_one_unless_told_so() {
    let app = TestApp::spawn(ONE_TRY).await;
    let old = refused_row(&app, PC, "gold").await;
    let newer = app.enqueue_pc(PC, json!({"tier": "platinum"})).await;
    app.run_once().await;
    assert_eq!(app.row(newer).await.state, "delivered");

    let refused = run(&app, &["retry", &old.to_string()]);
    let with_yes = run(&app, &["retry", &old.to_string(), "--yes"]);

    for done in [&refused, &with_yes] {
        assert_eq!(done.code, Some(2), "{done:?}");
        assert_eq!(
            done.stdout, "",
            "a refusal is said on stderr only: {done:?}"
        );
        assert!(
            done.stderr
                .contains(&format!("row {old} (row {newer} is delivered)"))
                && done.stderr.contains("older value after a newer one")
                && done.stderr.contains("--even-if-newer-sent"),
            "{done:?}"
        );
    }
    assert_eq!(app.row(old).await.state, "failed");
    let explained = run(&app, &["show", &old.to_string()]).stdout;
    assert!(
        explained.contains(&format!("latest: row {newer}"))
            && explained.contains("--even-if-newer-sent"),
        "{explained}"
    );

    let forced = run(&app, &["retry", &old.to_string(), "--even-if-newer-sent"]);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert!(
        forced.stdout.contains(&format!(
            "row {old} goes out after a newer row of its visitor (row {newer}, delivered)"
        )),
        "{forced:?}"
    );
    assert_eq!(app.row(old).await.state, "pending");
}

#[tokio::test]
async fn retry_refuses_an_older_row_while_a_newer_one_is_in_flight() {
    let app = TestApp::spawn(ONE_TRY).await;
    let old = refused_row(&app, PC, "gold").await;
    let newer = app.enqueue_pc(PC, json!({"tier": "platinum"})).await;
    set_state(&app, newer, "in_flight").await;

    let refused = run(&app, &["retry", &old.to_string(), "--json"]);

    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("row {old} (row {newer} is in_flight)")),
        "{refused:?}"
    );
    let doc = refused.json();
    assert_eq!(doc["done"], json!(false));
    assert_eq!(
        doc["out_of_order"],
        json!([{"id": old, "newer_id": newer, "newer_state": "in_flight"}])
    );
    assert_eq!(doc["needs"][0]["flag"], json!("--even-if-newer-sent"));
    assert_eq!(app.row(old).await.state, "failed");
}

#[tokio::test]
async fn retry_of_an_older_row_with_a_newer_row_only_pending_sends_the_older_first() {
    let app = TestApp::spawn(&format!("{ONE_TRY}[quota]\ncoalesce = false\n")).await;
    let old = refused_row(&app, PC, "gold").await;
    let newer = app.enqueue_pc(PC, json!({"tier": "platinum"})).await;

    let done = run(&app, &["retry", &old.to_string()]);
    app.drain().await;

    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(app.row(old).await.state, "delivered");
    assert_eq!(app.row(newer).await.state, "delivered");
    assert_eq!(tiers_received(&app, PC), ["gold", "gold", "platinum"]);
}

#[tokio::test]
async fn a_newer_row_sent_between_retry_s_look_and_its_change_keeps_the_older_row_failed() {
    let app = TestApp::spawn(ONE_TRY).await;
    let old = refused_row(&app, PC, "gold").await;
    let newer = app.enqueue_pc(PC, json!({"tier": "platinum"})).await;
    let filter = RowFilter {
        ids: vec![old],
        ..RowFilter::default()
    };
    let plan = admin::plan(&app.pool, Change::Retry, &filter)
        .await
        .expect("plan");
    assert!(
        plan.needs(&[]).is_empty(),
        "at the look, the newer row only waits: {plan:?}"
    );

    // The daemon sends the newer row between retry's look and its change.
    app.run_once().await;
    assert_eq!(app.row(newer).await.state, "delivered");
    let applied = admin::apply(&app.pool, &plan, app.now_ms(), OrderGuard::Keep)
        .await
        .expect("apply");
    app.drain().await;

    assert!(applied.changed.is_empty(), "{applied:?}");
    assert_eq!(applied.overtaken.len(), 1, "{applied:?}");
    assert_eq!(applied.overtaken[0].1.id, newer);
    assert_eq!(app.row(old).await.state, "failed");
    assert_never_older_after_newer(&tiers_received(&app, PC), "gold", "platinum");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_racing_a_delivering_daemon_never_send_an_older_value_after_a_newer_one() {
    let app = TestApp::spawn(ONE_TRY).await;
    let visitors: Vec<String> = (0..24).map(|i| format!("{i}-{i}.01_00")).collect();
    let mut olds = Vec::new();
    for pc in &visitors {
        let old = app.enqueue_pc(pc, json!({"tier": "old"})).await;
        set_state(&app, old, "failed").await;
        olds.push(old);
        app.enqueue_pc(pc, json!({"tier": "new"})).await;
    }
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(15)));
    let commands: Vec<_> = olds
        .iter()
        .map(|id| app.command(&["retry", &id.to_string()]))
        .collect();

    let mut daemon = app.spawn_daemon();
    let runs = tokio::task::spawn_blocking(move || commands.into_iter().map(output).collect())
        .await
        .expect("retries ran");
    let runs: Vec<crate::admin_helpers::Run> = runs;
    app.wait_until(Duration::from_secs(30), "nothing left to send", || async {
        app.count("pending").await + app.count("in_flight").await == 0
    })
    .await;
    app.stop_daemon(&mut daemon, Duration::from_secs(30)).await;

    for done in &runs {
        assert!(matches!(done.code, Some(0..=2)), "{done:?}");
    }
    for pc in &visitors {
        assert_never_older_after_newer(&tiers_received(&app, pc), "old", "new");
    }
}

#[tokio::test]
async fn a_row_whose_data_breaks_a_rule_is_not_retried_to_fail_again_unless_forced() {
    let app = TestApp::spawn("").await;
    let ecid = "12345678901234567890123456789012345678";
    let id = app.enqueue_pc(ecid, json!({"tier": "gold"})).await;
    app.run_once().await;
    assert_eq!(app.row(id).await.state, "failed");

    let shown = run(&app, &["show", &id.to_string()]);
    let refused = run(&app, &["retry", &id.to_string()]);

    assert!(
        shown.stdout.contains("the row's own data is the cause")
            && shown
                .stdout
                .contains(&format!("profile-outbox cancel {id}"))
            && !shown.stdout.contains("once the cause is fixed"),
        "{}",
        shown.stdout
    );
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains(&format!("row {id}: mbox_pc"))
            && refused.stderr.contains("Experience Cloud ID")
            && refused.stderr.contains("--even-if-invalid"),
        "{refused:?}"
    );
    assert_eq!(app.row(id).await.state, "failed");

    let forced = run(&app, &["retry", &id.to_string(), "--even-if-invalid"]);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert_eq!(app.row(id).await.state, "pending");
}

#[tokio::test]
async fn purge_and_prune_keep_a_delivered_row_while_an_older_row_of_its_visitor_is_failed() {
    let app = TestApp::spawn(ONE_TRY).await;
    let old = refused_row(&app, PC, "gold").await;
    let newer = app.enqueue_pc(PC, json!({"tier": "platinum"})).await;
    let other = app.enqueue_pc("2-2.01_00", json!({"tier": "silver"})).await;
    app.drain().await;
    assert_eq!(app.row(newer).await.state, "delivered");
    assert_eq!(app.row(other).await.state, "delivered");

    // The retention prune, a week and a day later, and `purge` of everything delivered: the row
    // that keeps the visitor's order stays, the other goes.
    let day_ms = 86_400_000;
    let pruned = profile_outbox::housekeeping::prune(
        &app.pool,
        app.now_ms() + 8 * day_ms,
        Duration::from_secs(7 * 86_400),
    )
    .await
    .expect("prunes");
    assert_eq!(
        pruned, 1,
        "only the other visitor's delivered row is pruned"
    );
    let purged = run(&app, &["purge", "--older-than", "0s", "--yes"]);
    assert_eq!(purged.code, Some(0), "{purged:?}");
    assert_eq!(app.row(newer).await.state, "delivered");

    // So `retry` still sees it, and refuses to send the older value over it.
    let refused = run(&app, &["retry", &old.to_string()]);
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("row {old} (row {newer} is delivered)")),
        "{refused:?}"
    );
    app.drain().await;
    assert_never_older_after_newer(&tiers_received(&app, PC), "gold", "platinum");

    // Once the older row is dealt with (cancelled here), the delivered row goes with the next purge.
    let cancelled = run(&app, &["cancel", &old.to_string()]);
    assert_eq!(cancelled.code, Some(0), "{cancelled:?}");
    let purged = run(&app, &["purge", "--older-than", "0s", "--yes"]);
    assert_eq!(purged.code, Some(0), "{purged:?}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE id = ?1")
        .bind(newer)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "{purged:?}");
}
