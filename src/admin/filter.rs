//! The row filter the listing and changing commands share, turned into a SQL `WHERE` clause.
//!
//! Values people type (visitor ids, sources, row ids) are always bound as parameters, never written
//! into the SQL text. Only states appear as literals: they come from [`State::as_str`], a fixed set,
//! and SQLite uses a partial index (`WHERE state = 'failed'`) only when the query names the state
//! itself.

use crate::outbox::State;
use sqlx::Sqlite;
use sqlx::query::QueryAs;
use sqlx::sqlite::SqliteArguments;

/// Which rows to take. Every condition set must hold; an empty filter takes every row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowFilter {
    pub ids: Vec<i64>,
    /// Any of these states; empty means any state.
    pub states: Vec<State>,
    /// The `visitor` column's form of a visitor id, from [`visitor_key`].
    pub visitor: Option<String>,
    pub source: Option<String>,
    /// `created_at` (wall-clock ms) before this.
    pub created_before_ms: Option<i64>,
    /// `created_at` at or after this.
    pub created_since_ms: Option<i64>,
}

/// A value to bind, in the order of the clause's `?`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
}

/// The `visitor` column's value for a visitor id: the id kind and the id.
pub fn visitor_key(mbox_pc: Option<&str>, mbox_3rd_party_id: Option<&str>) -> Option<String> {
    match (mbox_pc, mbox_3rd_party_id) {
        (Some(pc), _) => Some(format!("pc:{pc}")),
        (None, Some(third)) => Some(format!("3p:{third}")),
        (None, None) => None,
    }
}

impl RowFilter {
    /// `WHERE …` with `?` placeholders (or an empty string), and the values to bind in order.
    pub fn clause(&self) -> (String, Vec<Value>) {
        let mut terms: Vec<String> = Vec::new();
        let mut values = Vec::new();
        if !self.ids.is_empty() {
            terms.push("id IN (SELECT value FROM json_each(?))".into());
            values.push(Value::Text(json_array(&self.ids)));
        }
        match self.states.as_slice() {
            [] => {}
            [one] => terms.push(format!("state = '{}'", one.as_str())),
            many => {
                let list: Vec<String> = many.iter().map(|s| format!("'{}'", s.as_str())).collect();
                terms.push(format!("state IN ({})", list.join(", ")));
            }
        }
        let bound = [
            ("visitor = ?", self.visitor.clone().map(Value::Text)),
            ("source = ?", self.source.clone().map(Value::Text)),
            ("created_at < ?", self.created_before_ms.map(Value::Int)),
            ("created_at >= ?", self.created_since_ms.map(Value::Int)),
        ];
        for (term, value) in bound {
            if let Some(value) = value {
                terms.push(term.into());
                values.push(value);
            }
        }
        if terms.is_empty() {
            (String::new(), values)
        } else {
            (format!("WHERE {}", terms.join(" AND ")), values)
        }
    }
}

/// A JSON array of ids, for `json_each(?)`.
pub fn json_array(ids: &[i64]) -> String {
    let items: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
}

/// Binds `values` in order.
pub fn bind_all<'q, O>(
    mut query: QueryAs<'q, Sqlite, O, SqliteArguments<'q>>,
    values: &'q [Value],
) -> QueryAs<'q, Sqlite, O, SqliteArguments<'q>> {
    for value in values {
        query = match value {
            Value::Int(n) => query.bind(*n),
            Value::Text(text) => query.bind(text.as_str()),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_filter_takes_every_row() {
        assert_eq!(RowFilter::default().clause(), (String::new(), vec![]));
    }

    #[test]
    fn conditions_are_joined_and_values_bound_in_order() {
        let filter = RowFilter {
            ids: vec![3, 5],
            states: vec![State::Pending, State::Failed],
            visitor: visitor_key(None, Some("CRM-1")),
            source: Some("till".into()),
            created_before_ms: Some(100),
            created_since_ms: Some(50),
        };
        let (sql, values) = filter.clause();
        assert_eq!(
            sql,
            "WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('pending', 'failed') \
             AND visitor = ? AND source = ? AND created_at < ? AND created_at >= ?"
        );
        assert_eq!(
            values,
            vec![
                Value::Text("[3,5]".into()),
                Value::Text("3p:CRM-1".into()),
                Value::Text("till".into()),
                Value::Int(100),
                Value::Int(50),
            ]
        );
    }

    #[test]
    fn one_state_is_named_alone_so_its_partial_index_applies() {
        let filter = RowFilter {
            states: vec![State::Failed],
            ..RowFilter::default()
        };
        assert_eq!(filter.clause().0, "WHERE state = 'failed'");
    }

    #[test]
    fn text_people_type_never_reaches_the_sql() {
        let filter = RowFilter {
            source: Some("x' OR '1'='1".into()),
            visitor: visitor_key(Some("a'; DROP TABLE outbox; --"), None),
            ..RowFilter::default()
        };
        let (sql, _) = filter.clause();
        assert!(!sql.contains('\''), "{sql}");
    }
}
