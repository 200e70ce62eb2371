//! Why a row cannot be sent: the field at fault and the rule it breaks.

use std::fmt;

/// A row that breaks one of Target's documented limits. Such a row is set aside as `failed` with
/// this text as its reason, before any request is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// The column or attribute at fault, as the operator would look for it.
    pub field: String,
    /// What is wrong, in a sentence.
    pub rule: String,
}

impl RowProblem {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> RowProblem {
        RowProblem {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

impl std::error::Error for RowProblem {}
