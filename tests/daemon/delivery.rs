//! Rows become the right requests: both id kinds, exact encoding, splitting, the token, POST.

use crate::fake_target::Received;
use crate::helpers::{PC, TestApp};
use profile_outbox::adobe::GET_LIMIT_BYTES;
use profile_outbox::outbox::NewRow;
use serde_json::json;

#[tokio::test]
async fn a_row_for_each_kind_of_visitor_id_is_delivered_with_prefixed_attributes() {
    let app = TestApp::spawn("").await;
    let by_pc = app
        .enqueue_pc(
            PC,
            json!({"loyalty_tier": "gold", "visits": 3, "vip": true}),
        )
        .await;
    let mut attributes = serde_json::Map::new();
    attributes.insert("loan_funded".into(), json!("2026-11-28"));
    let by_crm = app
        .enqueue(NewRow {
            mbox_3rd_party_id: Some("CRM-0042".into()),
            attributes,
            ..NewRow::default()
        })
        .await;

    let report = app.run_once().await;

    assert_eq!((report.claimed, report.delivered), (2, 2));
    assert_eq!(app.row(by_pc).await.state, "delivered");
    assert_eq!(app.row(by_crm).await.state, "delivered");
    assert_eq!(app.row(by_pc).await.last_status, Some(200));
    let received = app.target.received();
    assert_eq!(received.len(), 2);
    let pc = received
        .iter()
        .find(|r| r.param("mboxPC").is_some())
        .expect("an mboxPC request");
    assert_eq!(pc.method, "GET");
    assert_eq!(pc.path, "/m2/acme/profile/update");
    assert_eq!(
        pc.params(),
        vec![
            ("mboxPC".to_owned(), PC.to_owned()),
            ("profile.loyalty_tier".to_owned(), "gold".to_owned()),
            ("profile.vip".to_owned(), "true".to_owned()),
            ("profile.visits".to_owned(), "3".to_owned()),
        ]
    );
    let crm = received
        .iter()
        .find(|r| r.param("mbox3rdPartyId").is_some())
        .expect("an mbox3rdPartyId request");
    assert_eq!(crm.param("mbox3rdPartyId").as_deref(), Some("CRM-0042"));
    assert_eq!(
        crm.param("profile.loan_funded").as_deref(),
        Some("2026-11-28")
    );
    assert_eq!(crm.param("mboxPC"), None);
}

#[tokio::test]
async fn hostile_values_are_percent_encoded_exactly_and_cannot_add_parameters() {
    let app = TestApp::spawn("").await;
    let hostile = "a&b=c+d#e%f g/é😀?x=1";
    app.insert_raw(
        None,
        Some("card 7&x=1"),
        &json!({ "note": hostile, "k&=+#": "v" }).to_string(),
    )
    .await;

    app.run_once().await;

    let received = app.target.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].query,
        "mbox3rdPartyId=card%207%26x%3D1&profile.k%26%3D%2B%23=v\
         &profile.note=a%26b%3Dc%2Bd%23e%25f%20g%2F%C3%A9%F0%9F%98%80%3Fx%3D1"
    );
    assert_eq!(
        received[0].params(),
        vec![
            ("mbox3rdPartyId".to_owned(), "card 7&x=1".to_owned()),
            ("profile.k&=+#".to_owned(), "v".to_owned()),
            ("profile.note".to_owned(), hostile.to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_update_past_8_kilobytes_goes_out_as_several_requests_each_naming_the_visitor() {
    let app = TestApp::spawn("").await;
    let attributes: serde_json::Map<String, serde_json::Value> = (0..80)
        .map(|i| (format!("attr_{i:02}"), json!("ü".repeat(250))))
        .collect();
    let id = app
        .enqueue_pc(PC, serde_json::Value::Object(attributes.clone()))
        .await;

    let report = app.run_once().await;

    assert_eq!(report.delivered, 1);
    let received = app.target.received();
    assert!(received.len() >= 3, "{} requests", received.len());
    assert_eq!(report.requests as usize, received.len());
    assert_eq!(app.row(id).await.sends, received.len() as i64);
    let mut seen = serde_json::Map::new();
    for request in &received {
        let url_len = app.target.base_url().len() + request.path.len() + 1 + request.query.len();
        assert!(url_len <= GET_LIMIT_BYTES, "a request of {url_len} bytes");
        assert_eq!(request.param("mboxPC").as_deref(), Some(PC));
        for (name, value) in request.params() {
            if let Some(name) = name.strip_prefix("profile.") {
                seen.insert(name.to_owned(), json!(value));
            }
        }
    }
    assert_eq!(seen, attributes);
}

#[tokio::test]
async fn the_token_from_token_file_goes_in_a_bearer_header() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok-123\n").expect("token written");
    let app = TestApp::spawn(&format!(
        "[target]\ntoken_file = {:?}\n",
        token_file.display().to_string()
    ))
    .await;
    app.enqueue_pc(PC, json!({"a": "1"})).await;

    app.run_once().await;

    let received: Vec<Received> = app.target.received();
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer tok-123"));
}

#[tokio::test]
async fn without_a_token_file_no_authorization_header_is_sent() {
    let app = TestApp::spawn("").await;
    app.enqueue_pc(PC, json!({"a": "1"})).await;
    app.run_once().await;
    assert_eq!(app.target.received()[0].authorization, None);
}

#[tokio::test]
async fn post_sends_the_parameters_as_a_form_body() {
    let app = TestApp::spawn("[target]\nmethod = \"post\"\n").await;
    let id = app.enqueue_pc(PC, json!({"tier": "a&b"})).await;

    app.run_once().await;

    let received = app.target.received();
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].query, "");
    assert_eq!(
        received[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(received[0].body, format!("mboxPC={PC}&profile.tier=a%26b"));
    assert_eq!(app.row(id).await.state, "delivered");
}
