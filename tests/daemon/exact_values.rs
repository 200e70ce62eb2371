//! Attribute values reach Target exactly as the producer wrote them in the JSON: numbers are never
//! parsed into a float on the way (no rounding, no reformatting), alone, merged or by POST.

use crate::helpers::{PC, TestApp};

/// Number texts a float would change, with the attribute names they go under.
const NUMBERS: [(&str, &str); 7] = [
    ("loyalty_number", "98765432109876543210"),
    ("price", "19.90"),
    ("hundred", "1e2"),
    ("zero", "-0"),
    ("one", "1.0"),
    ("tiny", "-1.5E-300"),
    ("pi", "3.14159265358979323846264338327950288"),
];

fn attributes_json() -> String {
    let fields: Vec<String> = NUMBERS
        .iter()
        .map(|(name, number)| format!(r#""{name}": {number}"#))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn sorted_numbers() -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = NUMBERS
        .iter()
        .map(|(name, number)| (format!("profile.{name}"), (*number).to_owned()))
        .collect();
    expected.sort();
    expected
}

#[tokio::test]
async fn numbers_reach_target_exactly_as_the_producer_wrote_them() {
    for method in ["get", "post"] {
        let app = TestApp::spawn(&format!("[target]\nmethod = \"{method}\"\n")).await;
        let id = app.insert_raw(Some(PC), None, &attributes_json()).await;

        app.run_once().await;

        assert_eq!(app.row(id).await.state, "delivered", "{method}");
        let received = app.target.received();
        assert_eq!(received.len(), 1, "{method}");
        let mut expected = vec![("mboxPC".to_owned(), PC.to_owned())];
        expected.extend(sorted_numbers());
        assert_eq!(received[0].params(), expected, "{method}");
    }
}

#[tokio::test]
async fn a_merged_update_carries_the_newest_number_text_unchanged() {
    let app = TestApp::spawn("").await;
    app.insert_raw(
        Some(PC),
        None,
        r#"{"price": 10.00, "card": 12345678901234567890}"#,
    )
    .await;
    app.insert_raw(Some(PC), None, r#"{"price": 19.90}"#).await;

    app.drain().await;

    let received = app.target.received();
    assert_eq!(received.len(), 1, "the two rows go out as one call");
    assert_eq!(
        received[0].params(),
        vec![
            ("mboxPC".to_owned(), PC.to_owned()),
            ("profile.card".to_owned(), "12345678901234567890".to_owned()),
            ("profile.price".to_owned(), "19.90".to_owned()),
        ]
    );
}
