//! A row's attributes, checked against Target's limits and turned into name/value text pairs.
//!
//! A number goes to Target exactly as the producer wrote it in the JSON (`98765432109876543210`,
//! `19.90`, `1e2`, `-0`): values are read as raw JSON text, and a number is never parsed into a
//! float, which would round or reformat it.

use super::{RowProblem, VisitorId};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Longest attribute name Target takes (documented for in-mbox parameters; assumed here).
pub const NAME_MAX_CHARS: usize = 128;
/// Longest attribute value Target takes (documented for in-mbox parameters; assumed here).
pub const VALUE_MAX_CHARS: usize = 256;
/// Target keeps at most 64 KB of external profile data per visitor; one row may not carry more.
pub const ROW_MAX_BYTES: usize = 64 * 1024;

/// One visitor's update, ready to be turned into requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub visitor: VisitorId,
    /// Attribute names (without the `profile.` prefix) and values as text, sorted by name.
    pub attributes: Vec<(String, String)>,
}

impl ProfileUpdate {
    /// Checks a row's id columns and its `attributes` JSON text.
    pub fn from_row(
        mbox_pc: Option<&str>,
        mbox_3rd_party_id: Option<&str>,
        attributes: &str,
    ) -> Result<ProfileUpdate, RowProblem> {
        let visitor = VisitorId::from_columns(mbox_pc, mbox_3rd_party_id)?;
        let attributes = parse_attributes(attributes)?;
        Ok(ProfileUpdate {
            visitor,
            attributes,
        })
    }

    /// Merges one visitor's updates, given oldest first, into one: the newest value of each
    /// attribute wins. `None` when there is nothing to merge.
    pub fn merge(updates: impl IntoIterator<Item = ProfileUpdate>) -> Option<ProfileUpdate> {
        let mut updates = updates.into_iter();
        let first = updates.next()?;
        let mut merged: std::collections::BTreeMap<String, String> =
            first.attributes.into_iter().collect();
        for update in updates {
            merged.extend(update.attributes);
        }
        Some(ProfileUpdate {
            visitor: first.visitor,
            attributes: merged.into_iter().collect(),
        })
    }
}

fn parse_attributes(text: &str) -> Result<Vec<(String, String)>, RowProblem> {
    let field = "attributes";
    let whole: &RawValue = serde_json::from_str(text)
        .map_err(|e| RowProblem::new(field, format!("is not valid JSON ({e})")))?;
    // A later duplicate name wins, as it did when the object was read whole.
    let map: BTreeMap<String, &RawValue> = serde_json::from_str(whole.get())
        .map_err(|_| RowProblem::new(field, "is not a JSON object of attribute name to value"))?;
    if map.is_empty() {
        return Err(RowProblem::new(
            field,
            "is an empty object: there is nothing to send",
        ));
    }
    let mut pairs = Vec::with_capacity(map.len());
    let mut total = 0;
    for (name, value) in map {
        check_name(&name)?;
        let text = value_text(&name, value)?;
        total += name.len() + text.len();
        pairs.push((name, text));
    }
    if total > ROW_MAX_BYTES {
        return Err(RowProblem::new(
            field,
            format!(
                "hold {total} bytes; Target keeps at most 64 KB ({ROW_MAX_BYTES} bytes) of profile data per visitor"
            ),
        ));
    }
    Ok(pairs)
}

fn check_name(name: &str) -> Result<(), RowProblem> {
    let field = format!("attribute name {name:?}");
    if name.trim().is_empty() {
        return Err(RowProblem::new("attributes", "has an empty attribute name"));
    }
    let len = name.chars().count();
    if len > NAME_MAX_CHARS {
        return Err(RowProblem::new(
            field,
            format!("is {len} characters, Target allows {NAME_MAX_CHARS}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(RowProblem::new(field, "contains a control character"));
    }
    if name.starts_with("profile.") {
        return Err(RowProblem::new(
            field,
            "starts with \"profile.\"; give names without the prefix, the daemon adds it",
        ));
    }
    Ok(())
}

/// A value as the text Target gets: a string's characters, `true` or `false`, or a number's JSON
/// text unchanged. The JSON is already valid, so its first character says what it is.
fn value_text(name: &str, value: &RawValue) -> Result<String, RowProblem> {
    let field = format!("value of {name}");
    let raw = value.get();
    let text = match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw).map_err(|e| {
            RowProblem::new(field.clone(), format!("is not a valid JSON string ({e})"))
        })?,
        Some(b't' | b'f') => raw.to_owned(),
        Some(b'n') => {
            return Err(RowProblem::new(
                field,
                "is null; Target takes a string, number or boolean (and an empty value does not clear an attribute)",
            ));
        }
        Some(b'[' | b'{') => {
            return Err(RowProblem::new(
                field,
                "is a list or object; Target takes a string, number or boolean",
            ));
        }
        // A number: its text as written, never through a float.
        _ => raw.to_owned(),
    };
    let len = text.chars().count();
    if len > VALUE_MAX_CHARS {
        return Err(RowProblem::new(
            field,
            format!("is {len} characters, Target allows {VALUE_MAX_CHARS}"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(attributes: &str) -> Result<ProfileUpdate, RowProblem> {
        ProfileUpdate::from_row(Some("1-1.01_00"), None, attributes)
    }

    #[test]
    fn strings_numbers_and_booleans_become_text() {
        let update = check(r#"{"tier":"gold","visits":3,"vip":true,"score":1.5}"#);
        let pairs = update.map(|u| u.attributes);
        assert_eq!(
            pairs,
            Ok(vec![
                ("score".into(), "1.5".into()),
                ("tier".into(), "gold".into()),
                ("vip".into(), "true".into()),
                ("visits".into(), "3".into()),
            ])
        );
    }

    #[test]
    fn numbers_keep_the_exact_text_the_producer_wrote() {
        let written = [
            "98765432109876543210",
            "19.90",
            "1e2",
            "1E+2",
            "-0",
            "1.0",
            "0.1000000000000000055511151231257827",
            "-12345678901234567890.000",
            "3",
        ];
        for number in written {
            let update = check(&format!(r#"{{"a": {number} , "b":"x"}}"#));
            assert_eq!(
                update.map(|u| u.attributes),
                Ok(vec![("a".into(), number.into()), ("b".into(), "x".into())]),
                "{number}"
            );
        }
    }

    #[test]
    fn strings_are_unescaped_and_a_later_duplicate_name_wins() {
        let update = check(r#"{"a":"caf\u00e9 \"q\"","a":"second","b":false}"#);
        assert_eq!(
            update.map(|u| u.attributes),
            Ok(vec![
                ("a".into(), "second".into()),
                ("b".into(), "false".into())
            ])
        );
        let escaped = check(r#"{"a":"x\u00e9"}"#).map(|u| u.attributes);
        assert_eq!(escaped, Ok(vec![("a".into(), "xé".into())]));
    }

    #[test]
    fn a_value_over_256_characters_is_refused_with_its_length() {
        let note = "é".repeat(412);
        let err = check(&format!(r#"{{"loyalty_note":"{note}"}}"#)).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("value of loyalty_note: is 412 characters, Target allows 256".to_owned())
        );
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let long_name = "n".repeat(129);
        let cases = [
            ("[1,2]".to_owned(), "attributes", "not a JSON object"),
            ("{".to_owned(), "attributes", "not valid JSON"),
            ("{}".to_owned(), "attributes", "empty object"),
            (r#"{"a":null}"#.to_owned(), "value of a", "null"),
            (r#"{"a":[1]}"#.to_owned(), "value of a", "list or object"),
            (
                r#"{"profile.a":"x"}"#.to_owned(),
                "attribute name \"profile.a\"",
                "prefix",
            ),
            (
                format!(r#"{{"{long_name}":"x"}}"#),
                "attribute name",
                "129 characters",
            ),
            (
                r#"{"":"x"}"#.to_owned(),
                "attributes",
                "empty attribute name",
            ),
            (
                r#"{"a\u0007":"x"}"#.to_owned(),
                "attribute name",
                "control character",
            ),
        ];
        for (json, field, rule) in cases {
            let err = check(&json).err();
            let Some(err) = err else {
                panic!("{json} was accepted")
            };
            assert!(err.field.starts_with(field), "{json}: {err}");
            assert!(err.rule.contains(rule), "{json}: {err}");
        }
    }

    #[test]
    fn merging_keeps_the_newest_value_of_each_attribute() {
        let older = check(r#"{"tier":"silver","store":"12"}"#);
        let newer = check(r#"{"tier":"gold","visits":4}"#);
        let (Ok(older), Ok(newer)) = (older, newer) else {
            panic!("test rows are valid")
        };
        let merged = ProfileUpdate::merge([older, newer]).map(|u| u.attributes);
        assert_eq!(
            merged,
            Some(vec![
                ("store".into(), "12".into()),
                ("tier".into(), "gold".into()),
                ("visits".into(), "4".into()),
            ])
        );
        assert_eq!(ProfileUpdate::merge([]), None);
    }

    #[test]
    fn more_than_64_kilobytes_in_one_row_is_refused() {
        let attrs: Vec<String> = (0..300)
            .map(|i| format!(r#""a{i}":"{}""#, "v".repeat(250)))
            .collect();
        let err = check(&format!("{{{}}}", attrs.join(","))).err();
        assert!(err.is_some_and(|e| e.rule.contains("64")));
    }
}
