//! What a row is to the daemon: its state, the fields a claim hands to delivery, and how those
//! fields are read from whatever a producer stored.
//!
//! Producers write with plain SQL, and SQLite keeps any storage class in any column: migration
//! 0005 refuses a BLOB in a producer column, but a row written before it (or a TEXT value that is
//! not valid UTF-8) can still be there. So a claim reads each producer column as its storage class
//! and its bytes, which cannot fail to decode, and decides here whether the row can be read as
//! text; one that cannot is that row's own failure, never the round's.

use std::fmt;

/// Where a row is in its life. Stored as text so operators can read it in `sqlite3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Waiting to be sent, now or at `next_attempt_at`.
    Pending,
    /// Claimed by the daemon and being sent. A crash leaves it here; start-up makes it pending.
    InFlight,
    /// Target accepted it.
    Delivered,
    /// Set aside for an operator, with the reason in `last_error`.
    Failed,
    /// Withdrawn by an operator; never sent again.
    Cancelled,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Pending,
        State::InFlight,
        State::Delivered,
        State::Failed,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InFlight => "in_flight",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row the daemon has claimed (now `in_flight`), with what it needs to send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedRow {
    pub id: i64,
    pub mbox_pc: Option<String>,
    pub mbox_3rd_party_id: Option<String>,
    pub attributes: String,
    /// Earlier refusals by Target for this row's own fault.
    pub attempts: i64,
}

/// A claimed row as SQLite holds it: each producer column's storage class (`typeof()`) and bytes
/// (`CAST(… AS BLOB)`), which decode whatever the producer stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredRow {
    pub id: i64,
    pub mbox_pc_type: String,
    pub mbox_pc: Option<Vec<u8>>,
    pub mbox_3rd_party_id_type: String,
    pub mbox_3rd_party_id: Option<Vec<u8>>,
    pub attributes_type: String,
    pub attributes: Option<Vec<u8>>,
    pub attempts: i64,
}

/// A claimed row whose producer columns cannot be read as text: it is set aside as failed with
/// `reason`, which names the column and what is stored in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRow {
    pub id: i64,
    pub reason: String,
}

impl StoredRow {
    /// The row as delivery takes it, or why its columns cannot be read as text.
    pub fn decode(self) -> Result<ClaimedRow, UnreadableRow> {
        let id = self.id;
        let read = |column: &str, storage: &str, bytes| {
            column_text(storage, bytes).map_err(|rule| UnreadableRow {
                id,
                reason: format!("{column}: {rule}"),
            })
        };
        let mbox_pc = read("mbox_pc", &self.mbox_pc_type, self.mbox_pc)?;
        let mbox_3rd_party_id = read(
            "mbox_3rd_party_id",
            &self.mbox_3rd_party_id_type,
            self.mbox_3rd_party_id,
        )?;
        let attributes =
            read("attributes", &self.attributes_type, self.attributes)?.ok_or_else(|| {
                UnreadableRow {
                    id,
                    reason: "attributes: is NULL; a row carries a JSON object".into(),
                }
            })?;
        Ok(ClaimedRow {
            id,
            mbox_pc,
            mbox_3rd_party_id,
            attributes,
            attempts: self.attempts,
        })
    }
}

/// The text of a producer column stored with SQLite storage class `storage`, `None` for NULL, or
/// the rule it breaks. Only TEXT (valid UTF-8) is text: a BLOB is refused even when its bytes would
/// read as text, because the visitor key and the admin filters compare the column as TEXT and
/// would not match it.
pub fn column_text(storage: &str, bytes: Option<Vec<u8>>) -> Result<Option<String>, String> {
    match (storage, bytes) {
        ("null", _) | (_, None) => Ok(None),
        ("text", Some(bytes)) => String::from_utf8(bytes).map(Some).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            format!(
                "is TEXT that is not valid UTF-8 (bad byte 0x{:02x} at byte {at}); \
                 producers must write UTF-8 text",
                e.as_bytes().get(at).copied().unwrap_or_default()
            )
        }),
        (storage, Some(bytes)) => Err(format!(
            "is stored as {} ({} bytes), not TEXT; producers must write text \
             (in Python a str, not bytes)",
            storage.to_uppercase(),
            bytes.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pc: (&str, Option<&[u8]>), attributes: (&str, Option<&[u8]>)) -> StoredRow {
        StoredRow {
            id: 7,
            mbox_pc_type: pc.0.into(),
            mbox_pc: pc.1.map(<[u8]>::to_vec),
            mbox_3rd_party_id_type: "null".into(),
            mbox_3rd_party_id: None,
            attributes_type: attributes.0.into(),
            attributes: attributes.1.map(<[u8]>::to_vec),
            attempts: 2,
        }
    }

    #[test]
    fn text_columns_decode_to_the_row_delivery_takes() {
        let row = stored(
            ("text", Some(b"1-1.01_00")),
            ("text", Some(br#"{"a":"1"}"#)),
        );
        assert_eq!(
            row.decode(),
            Ok(ClaimedRow {
                id: 7,
                mbox_pc: Some("1-1.01_00".into()),
                mbox_3rd_party_id: None,
                attributes: r#"{"a":"1"}"#.into(),
                attempts: 2,
            })
        );
    }

    #[test]
    fn a_column_that_is_not_text_names_the_column_and_its_storage_class() {
        let cases = [
            (
                ("blob", Some(&b"1-1.01_00"[..])),
                ("text", Some(&b"{}"[..])),
                "mbox_pc: is stored as BLOB (9 bytes)",
            ),
            (
                ("text", Some(&b"1-1"[..])),
                ("blob", Some(&b"{}"[..])),
                "attributes: is stored as BLOB (2 bytes)",
            ),
            (
                ("integer", Some(&b"12"[..])),
                ("text", Some(&b"{}"[..])),
                "mbox_pc: is stored as INTEGER",
            ),
            (
                ("real", Some(&b"1.5"[..])),
                ("text", Some(&b"{}"[..])),
                "mbox_pc: is stored as REAL",
            ),
            (
                ("text", Some(&b"a\xffb"[..])),
                ("text", Some(&b"{}"[..])),
                "mbox_pc: is TEXT that is not valid UTF-8 (bad byte 0xff at byte 1)",
            ),
            (
                ("text", Some(&b"1-1"[..])),
                ("null", None),
                "attributes: is NULL",
            ),
        ];
        for (pc, attributes, reason) in cases {
            let decoded = stored(pc, attributes).decode();
            let Err(unreadable) = decoded else {
                panic!("{pc:?} {attributes:?} decoded: {decoded:?}")
            };
            assert_eq!(unreadable.id, 7);
            assert!(
                unreadable.reason.starts_with(reason),
                "{}",
                unreadable.reason
            );
        }
    }

    #[test]
    fn every_state_reads_back_from_its_text() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
        assert_eq!(State::parse("sent"), None);
    }
}
