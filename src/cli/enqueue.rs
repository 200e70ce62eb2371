//! `profile-outbox enqueue`: writes one row the way a producer does, after the checks the daemon
//! would apply before sending it, so a row Target would refuse is never added.
//!
//! `--attr visits=3` stores the JSON number 3 and `--attr member=true` the boolean; any other
//! value, and every `--attr-str` value, is stored as text. A number is stored as a number only
//! when it goes out exactly as written (`19.90` would be sent as `19.9`, so it stays text).

use super::args::EnqueueArgs;
use super::usage::refuse;
use crate::admin::{self, with_lock_notice};
use crate::adobe::ProfileUpdate;
use crate::config;
use crate::outbox::{self, NewRow};
use serde_json::{Map, Value};
use std::path::Path;
use std::process::ExitCode;

pub async fn enqueue(config_path: Option<&Path>, args: EnqueueArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(config_path, None)?;
    let attributes = attributes(&args.attributes, &args.text_attributes)?;
    let text = Value::Object(attributes.clone()).to_string();
    let (pc, third) = (args.mbox_pc.as_deref(), args.mbox_3rd_party_id.as_deref());
    if let Err(problem) = ProfileUpdate::from_row(pc, third, &text) {
        return refuse(format!(
            "not added: Target would refuse this row ({problem}), and the daemon would set it \
             aside as failed without sending it"
        ));
    }
    let db = admin::open(&settings.database).await?;
    let row = NewRow {
        mbox_pc: args.mbox_pc,
        mbox_3rd_party_id: args.mbox_3rd_party_id,
        attributes,
        source: args
            .source
            .or_else(|| Some("profile-outbox enqueue".to_owned())),
    };
    let added = with_lock_notice(&db.path, outbox::enqueue(&db.pool, &row)).await;
    db.pool.close().await;
    println!("{}", added?);
    Ok(ExitCode::SUCCESS)
}

/// The attributes object: `typed` values as JSON numbers or booleans where they are written as
/// one, `text` values as strings. A name given twice is refused.
fn attributes(
    typed: &[(String, String)],
    text: &[(String, String)],
) -> anyhow::Result<Map<String, Value>> {
    let mut object = Map::new();
    let all = typed
        .iter()
        .map(|(n, v)| (n, typed_value(v)))
        .chain(text.iter().map(|(n, v)| (n, Value::String(v.clone()))));
    for (name, value) in all {
        if object.insert(name.clone(), value).is_some() {
            return refuse(format!(
                "attribute {name:?} is given twice; give each attribute once"
            ));
        }
    }
    Ok(object)
}

/// `3` → 3, `true` → true; anything else, or a number that would not go out exactly as written
/// (`19.90`, `1e2`, `98765432109876543210`), → the text itself.
fn typed_value(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    match serde_json::from_str::<serde_json::Number>(text) {
        Ok(number) if number.to_string() == text => Value::Number(number),
        _ => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_booleans_written_as_such_keep_their_type() {
        assert_eq!(typed_value("3"), json!(3));
        assert_eq!(typed_value("-12"), json!(-12));
        assert_eq!(typed_value("4.5"), json!(4.5));
        assert_eq!(typed_value("true"), json!(true));
        assert_eq!(typed_value("false"), json!(false));
    }

    #[test]
    fn anything_that_would_not_go_out_exactly_as_written_stays_text() {
        for text in [
            "19.90",
            "1e2",
            "98765432109876543210",
            "007",
            " 3",
            "-0",
            "gold",
            "",
        ] {
            assert_eq!(typed_value(text), json!(text), "{text:?}");
        }
    }

    #[test]
    fn attr_str_forces_text_and_a_name_given_twice_is_refused() {
        let typed = vec![("visits".to_owned(), "3".to_owned())];
        let text = vec![
            ("card".to_owned(), "0042".to_owned()),
            ("zip".to_owned(), "8001".to_owned()),
        ];
        let object = attributes(&typed, &text).expect("attributes");
        assert_eq!(
            Value::Object(object),
            json!({"visits": 3, "card": "0042", "zip": "8001"})
        );
        let twice = vec![("visits".to_owned(), "4".to_owned())];
        assert!(attributes(&typed, &twice).is_err());
    }
}
