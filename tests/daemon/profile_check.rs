//! Looking visitors up before updating them (`target.check_profile`): "delivered" means Target
//! has the profile. Judged from what the fake Target received: lookups and updates apart.

use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);
const CRM: &str = "CRM-1001";

/// A row for the third-party id `CRM`.
async fn crm_row(app: &TestApp, visits: u32) -> i64 {
    app.insert_raw(None, Some(CRM), &json!({ "visits": visits }).to_string())
        .await
}

#[tokio::test]
async fn a_known_visitors_row_is_delivered_after_one_lookup() {
    let app = TestApp::spawn("").await;
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    app.drain().await;

    assert_eq!(app.row(id).await.state, "delivered");
    let checks = app.target.checks();
    assert_eq!(checks.len(), 1);
    assert!(
        checks[0].path.ends_with(&format!("/rest/v1/profiles/{PC}"))
            && checks[0].query == "client=acme",
        "{:?}",
        checks[0]
    );
    assert_eq!(app.target.received().len(), 1, "one update");
}

#[tokio::test]
async fn an_unknown_visitors_row_waits_is_looked_up_again_and_fails_after_profile_wait_costing_nothing()
 {
    let app = TestApp::spawn("").await;
    app.target.profile_missing(CRM);
    let id = crm_row(&app, 1).await;

    app.run_once().await;
    let waiting = app.row(id).await;
    assert_eq!((waiting.state.as_str(), waiting.attempts), ("pending", 0));
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("no profile"),
        "{waiting:?}"
    );

    // An hour and a bit on the daemon's clock, a minute at a time.
    for _ in 0..65 {
        app.clock.advance(MINUTE);
        app.run_once().await;
    }

    let row = app.row(id).await;
    assert_eq!(row.state, "failed", "{row:?}");
    assert!(
        row.last_error.as_deref().unwrap_or("").contains(
            "Target has no profile for this visitor; the single update API cannot create one"
        ),
        "{row:?}"
    );
    assert_eq!(row.attempts, 0);
    let checks = app.target.checks();
    assert!(checks.len() >= 3, "looked up again: {}", checks.len());
    assert!(
        checks
            .iter()
            .all(|c| c.path.contains("/thirdPartyId/CRM-1001")),
        "{checks:?}"
    );
    assert!(app.target.received().is_empty(), "no update was sent");
    assert_eq!(app.calls_booked().await, 0, "no quota spent");
}

#[tokio::test]
async fn a_profile_that_appears_after_twenty_minutes_gets_its_row_delivered() {
    let app = TestApp::spawn("").await;
    app.target.profile_missing(CRM);
    let id = crm_row(&app, 1).await;
    app.run_once().await;

    for minute in 1..=40 {
        if minute == 20 {
            app.target.profile_appears(CRM);
        }
        app.clock.advance(MINUTE);
        app.run_once().await;
    }

    assert_eq!(app.row(id).await.state, "delivered");
    assert_eq!(app.target.values_of("profile.visits"), ["1"]);
}

#[tokio::test]
async fn a_visitor_with_fifty_rows_is_looked_up_once() {
    // Without coalescing, so each row is its own update: the lookup is remembered.
    let app = TestApp::spawn("[quota]\ncoalesce = false\n").await;
    for n in 0..50 {
        crm_row(&app, n).await;
    }

    app.drain().await;

    assert_eq!(app.count("delivered").await, 50);
    assert_eq!(app.target.checks().len(), 1);
    assert_eq!(app.target.received().len(), 50);

    // Remembered across a restart too.
    crm_row(&app, 50).await;
    let restarted = app.restarted().await;
    restarted.run_once(&app.stop).await.expect("round runs");
    assert_eq!(app.target.checks().len(), 1);
    assert_eq!(app.target.received().len(), 51);
}

#[tokio::test]
async fn lookup_outages_slow_downs_and_refused_tokens_fail_no_row_and_spend_no_quota() {
    let app = TestApp::spawn("").await;
    app.target.script_checks([
        Reply::reset(),
        Reply::status(503, "busy").retry_after("30"),
        Reply::status(429, ""),
        Reply::status(401, ""),
        Reply::status(502, "bad gateway"),
        Reply::status(404, "<html>proxy: no such path</html>"),
    ]);
    let id = app.enqueue_pc(PC, json!({"tier": "gold"})).await;

    for _ in 0..40 {
        app.run_once().await;
        app.clock.advance(Duration::from_secs(120));
    }

    let row = app.row(id).await;
    assert_eq!(
        (row.state.as_str(), row.attempts),
        ("delivered", 0),
        "{row:?}"
    );
    assert_eq!(
        app.target.checks().len(),
        7,
        "six unusable answers, then the profile"
    );
    assert_eq!(app.target.received().len(), 1);
    assert_eq!(app.calls_booked().await, 1);
}

#[tokio::test]
async fn with_the_check_off_no_lookup_is_made() {
    let app = TestApp::spawn("[target]\ncheck_profile = false\n").await;
    app.target.profile_missing(CRM);
    let id = crm_row(&app, 1).await;

    app.drain().await;

    assert_eq!(app.row(id).await.state, "delivered");
    assert!(app.target.checks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_failed_for_want_of_a_profile_are_counted_apart_explained_and_looked_up_again_on_retry()
 {
    let app = TestApp::spawn("[target]\nprofile_wait = \"10m\"\n").await;
    app.target.profile_missing(CRM);
    let id = crm_row(&app, 1).await;
    for _ in 0..15 {
        app.run_once().await;
        app.clock.advance(MINUTE);
    }
    assert_eq!(app.row(id).await.state, "failed");

    let status = app
        .command(&["status", "--json"])
        .output()
        .expect("status runs");
    let doc: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("status prints JSON");
    assert_eq!(doc["rows"]["failed"], 1, "{doc}");
    assert_eq!(doc["rows"]["failed_no_profile"], 1, "{doc}");
    let show = app
        .command(&["show", &id.to_string()])
        .output()
        .expect("show runs");
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("found no profile for this visitor"), "{text}");

    let checks_before = app.target.checks().len();
    let retry = app
        .command(&["retry", &id.to_string()])
        .output()
        .expect("retry runs");
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    app.run_once().await;
    let row = app.row(id).await;
    assert_eq!(
        row.state, "pending",
        "a fresh wait, not failed at once: {row:?}"
    );
    assert_eq!(
        app.target.checks().len(),
        checks_before + 1,
        "looked up again"
    );
    app.target.profile_appears(CRM);
    for _ in 0..5 {
        app.clock.advance(MINUTE);
        app.run_once().await;
    }
    assert_eq!(app.row(id).await.state, "delivered");
}
