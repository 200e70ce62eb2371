//! Rows as producers write them: every SQLite storage class in every producer column, many
//! attributes, values near Target's size limits (so updates split into several requests), the same
//! visitor many times, hostile values with `+ & = #` and unicode, and values Target refuses.
//!
//! Every row carries a marker attribute `m` whose value is unique in the history, and every other
//! value except booleans is unique too, so the checker can tell which row a received value came from.

use rand::Rng;
use rand::rngs::StdRng;

/// The name of the marker attribute every row carries.
pub const MARKER: &str = "m";
/// Target answers 400 to any request carrying a value with this text.
pub const REFUSED: &str = "REFUSE";
/// Target answers 500 to any request carrying a value with this text, forever.
pub const POISON_5XX: &str = "POISON5";
/// Target (a WAF in front of it) answers 403 to any request carrying this text, forever.
pub const POISON_403: &str = "POISON4";

/// One value bound into an SQL column, in the storage class a producer chose.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Real(f64),
    Blob(Vec<u8>),
    /// TEXT whose bytes are not UTF-8 (a producer writing Latin-1 through a C API): its storage
    /// class passes the triggers that refuse BLOBs, but it cannot be read as a Rust string.
    BadText(Vec<u8>),
}

/// What the row must come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Delivered, unless Target refused it often enough that it failed, or an operator cancelled it.
    Deliverable,
    /// Target refuses its content (400) every time: it ends failed.
    Refused,
    /// Target answers its content with a 5xx or 403 every time: it must end failed, not stall
    /// everyone.
    Poison,
    /// It breaks Target's rules: the daemon sets it aside as failed, never sends it.
    Invalid,
    /// A producer's odd storage class: delivered or failed with a reason, never stuck.
    Either,
}

/// A row as the producer writes it, and what the checker expects of it.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSpec {
    pub mbox_pc: Cell,
    pub third_party: Cell,
    pub attributes: Cell,
    pub source: Cell,
    /// The visitor as Target names it (`mboxPC=…` or `mbox3rdPartyId=…`), when the row has one.
    pub visitor: String,
    /// Each attribute's name and the text Target must receive for it.
    pub values: Vec<(String, String)>,
    pub expect: Expect,
}

/// Draws rows for one history: which visitors exist, how big and how hostile values get.
pub struct RowMaker {
    visitors: Vec<(bool, String)>,
    next_unique: u64,
    poison: bool,
}

const NAMES: [&str; 8] = [
    "tier", "store", "note", "points", "a b", "ünï", "x&y=z", "score",
];
const HOSTILE: [&str; 7] = [
    "gold",
    "a+b&c=d#e",
    "€ünïcødé 😀",
    "%20%zz",
    " spaced out ",
    "?q=1;path/",
    "",
];

impl RowMaker {
    pub fn new(rng: &mut StdRng) -> RowMaker {
        let count = rng.random_range(1..=4);
        let visitors = (0..count)
            .map(|i| {
                if rng.random_bool(0.6) {
                    (true, format!("1368007744041-57594{i}.0{}_00", i % 3 + 1))
                } else {
                    (false, format!("CRM-{i}ä&x={i} #é"))
                }
            })
            .collect();
        RowMaker {
            visitors,
            next_unique: 1,
            poison: rng.random_bool(0.25),
        }
    }

    fn unique(&mut self) -> u64 {
        self.next_unique += 1;
        self.next_unique
    }

    /// One row.
    pub fn row(&mut self, rng: &mut StdRng) -> RowSpec {
        let (is_pc, id) = self.visitors[rng.random_range(0..self.visitors.len())].clone();
        let marker = format!("r{}", self.unique());
        let mut json = vec![(MARKER.to_owned(), json_string(&marker))];
        let mut values = vec![(MARKER.to_owned(), marker)];
        let mut expect = Expect::Deliverable;
        let long = rng.random_bool(0.3);
        let count = if long {
            rng.random_range(3..=12)
        } else {
            rng.random_range(0..=3)
        };
        for i in 0..count {
            let name = if i < NAMES.len() && rng.random_bool(0.7) {
                NAMES[rng.random_range(0..NAMES.len())].to_owned()
            } else {
                format!("attr{}", rng.random_range(0..40))
            };
            if json.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let (literal, text, kind) = self.value(rng, long);
            expect = worse(expect, kind);
            json.push((name.clone(), literal));
            if let Some(text) = text {
                values.push((name, text));
            }
        }
        let text = format!(
            "{{{}}}",
            json.iter()
                .map(|(n, v)| format!("{}:{v}", json_string(n)))
                .collect::<Vec<_>>()
                .join(",")
        );
        self.storage(rng, is_pc, id, text, values, expect)
    }

    /// A value: its JSON literal, the text Target must receive (none for an invalid value), and
    /// what it makes of the row.
    fn value(&mut self, rng: &mut StdRng, long: bool) -> (String, Option<String>, Expect) {
        let n = self.unique();
        let (text, expect) = match rng.random_range(0..100) {
            0..=4 if self.poison => {
                let mark = if rng.random_bool(0.5) {
                    POISON_5XX
                } else {
                    POISON_403
                };
                (format!("{mark}{n}"), Expect::Poison)
            }
            5..=11 => (format!("{REFUSED}{n}"), Expect::Refused),
            12..=18 => return (invalid_literal(rng, n), None, Expect::Invalid),
            19..=30 => {
                let literal = literal(rng, n);
                return (literal.clone(), Some(literal), Expect::Deliverable);
            }
            _ => {
                let base = HOSTILE[rng.random_range(0..HOSTILE.len())];
                (format!("{base}{n}"), Expect::Deliverable)
            }
        };
        let text = if long { padded(rng, text) } else { text };
        (json_string(&text), Some(text), expect)
    }

    /// Chooses the storage class of each column, as careless producers do.
    fn storage(
        &mut self,
        rng: &mut StdRng,
        is_pc: bool,
        id: String,
        text: String,
        values: Vec<(String, String)>,
        expect: Expect,
    ) -> RowSpec {
        let odd = rng.random_bool(0.03);
        let id_cell = if odd && rng.random_bool(0.6) {
            if rng.random_bool(0.5) {
                Cell::Blob(id.clone().into_bytes())
            } else {
                // The id with a Latin-1 "é" in it.
                let mut bytes = id.clone().into_bytes();
                bytes.push(0xE9);
                Cell::BadText(bytes)
            }
        } else {
            Cell::Text(id.clone())
        };
        let attributes = if odd && rng.random_bool(0.4) {
            Cell::Blob(text.into_bytes())
        } else {
            Cell::Text(text)
        };
        let source = match rng.random_range(0..5) {
            0 => Cell::Null,
            1 => Cell::Int(rng.random_range(-5..5_000_000_000)),
            2 => Cell::Real(1.5),
            3 => Cell::Blob(vec![0, 159, 146, 150]),
            4 if odd => Cell::BadText(b"caf\xE9".to_vec()),
            _ => Cell::Text("till 7".to_owned()),
        };
        let expect = if odd && expect == Expect::Deliverable {
            Expect::Either
        } else {
            expect
        };
        let (mbox_pc, third_party, visitor) = if is_pc {
            (id_cell, Cell::Null, format!("mboxPC={id}"))
        } else {
            (Cell::Null, id_cell, format!("mbox3rdPartyId={id}"))
        };
        RowSpec {
            mbox_pc,
            third_party,
            attributes,
            source,
            visitor,
            values,
            expect,
        }
    }
}

/// A value Target does not take: null, a list, an object, or 257 to 261 characters.
fn invalid_literal(rng: &mut StdRng, n: u64) -> String {
    match rng.random_range(0..4) {
        0 => "null".to_owned(),
        1 => "[1,2]".to_owned(),
        2 => "{\"x\":1}".to_owned(),
        _ => json_string(&"v".repeat(257 + n as usize % 5)),
    }
}

/// A JSON number or boolean, unique but for the booleans: a plain integer, one past what `f64`
/// holds exactly, or a decimal with a trailing zero.
fn literal(rng: &mut StdRng, n: u64) -> String {
    match rng.random_range(0..4) {
        0 => format!("{}", n * 7),
        1 => format!("98765432109876543210{n}"),
        2 => format!("{n}.50"),
        _ => if rng.random_bool(0.5) {
            "true"
        } else {
            "false"
        }
        .to_owned(),
    }
}

/// Text padded near the 256-character limit with characters that grow when percent-encoded, so a
/// few such values pass 8 KB in a GET.
fn padded(rng: &mut StdRng, text: String) -> String {
    let room = 256usize.saturating_sub(text.chars().count());
    let fill = rng.random_range(room.saturating_sub(20)..=room);
    let pad: String = "é😀+&".chars().cycle().take(fill).collect();
    format!("{text}{pad}")
}

/// The most telling expectation of a row's values: invalid beats poison beats refused.
fn worse(current: Expect, value: Expect) -> Expect {
    let rank = |e: Expect| match e {
        Expect::Invalid => 4,
        Expect::Poison => 3,
        Expect::Refused => 2,
        Expect::Either => 1,
        Expect::Deliverable => 0,
    };
    if rank(value) > rank(current) {
        value
    } else {
        current
    }
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
