//! The visitor a row is about: Target's own id (`mboxPC`) or the customer's (`mbox3rdPartyId`).

use super::RowProblem;

/// Target's limit on third-party ids (documented for the bulk API, applied here too).
const THIRD_PARTY_MAX_CHARS: usize = 256;
/// tntIds are short (`1368007744041-575948.01_00`, or 32 hex digits and a location hint); this
/// bound only keeps nonsense out.
const TNT_ID_MAX_CHARS: usize = 128;

/// A checked visitor id, ready to go into a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VisitorId {
    /// `mboxPC`: Target's visitor id, from the `mbox_pc` column.
    TntId(String),
    /// `mbox3rdPartyId`: the customer's id (CRM, loyalty card), from `mbox_3rd_party_id`.
    ThirdParty(String),
}

impl VisitorId {
    /// Checks the two id columns of a row. The schema already makes sure exactly one is set; the
    /// check is repeated because a row can come from a database older than that rule.
    pub fn from_columns(
        mbox_pc: Option<&str>,
        mbox_3rd_party_id: Option<&str>,
    ) -> Result<VisitorId, RowProblem> {
        match (mbox_pc, mbox_3rd_party_id) {
            (Some(id), None) => check_tnt_id(id).map(|()| VisitorId::TntId(id.to_owned())),
            (None, Some(id)) => {
                check_third_party_id(id).map(|()| VisitorId::ThirdParty(id.to_owned()))
            }
            (Some(_), Some(_)) => Err(RowProblem::new(
                "mbox_pc",
                "both mbox_pc and mbox_3rd_party_id are set; a row names one visitor id",
            )),
            (None, None) => Err(RowProblem::new(
                "mbox_pc",
                "neither mbox_pc nor mbox_3rd_party_id is set",
            )),
        }
    }

    /// The key that names this visitor in the database, as `outbox.visitor` does.
    pub fn key(&self) -> String {
        match self {
            VisitorId::TntId(id) => format!("pc:{id}"),
            VisitorId::ThirdParty(id) => format!("3p:{id}"),
        }
    }

    /// The query parameter name and value that name this visitor.
    pub fn param(&self) -> (&'static str, &str) {
        match self {
            VisitorId::TntId(id) => ("mboxPC", id),
            VisitorId::ThirdParty(id) => ("mbox3rdPartyId", id),
        }
    }
}

fn check_tnt_id(id: &str) -> Result<(), RowProblem> {
    let field = "mbox_pc";
    if id.is_empty() {
        return Err(RowProblem::new(field, "is empty"));
    }
    if looks_like_ecid(id) {
        return Err(ecid_problem(field));
    }
    let len = id.chars().count();
    if len > TNT_ID_MAX_CHARS {
        return Err(RowProblem::new(
            field,
            format!(
                "is {len} characters; a Target visitor id (tntId) is at most {TNT_ID_MAX_CHARS}"
            ),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(RowProblem::new(
            field,
            format!(
                "contains {bad:?}; a Target visitor id (tntId, like 1368007744041-575948.01_00) \
                 has only letters, digits, '-', '.' and '_'"
            ),
        ));
    }
    Ok(())
}

fn check_third_party_id(id: &str) -> Result<(), RowProblem> {
    let field = "mbox_3rd_party_id";
    if id.trim().is_empty() {
        return Err(RowProblem::new(field, "is empty"));
    }
    if looks_like_ecid(id) {
        return Err(ecid_problem(field));
    }
    let len = id.chars().count();
    if len > THIRD_PARTY_MAX_CHARS {
        return Err(RowProblem::new(
            field,
            format!("is {len} characters; Target allows {THIRD_PARTY_MAX_CHARS}"),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| matches!(c, '+' | '/') || c.is_control())
    {
        return Err(RowProblem::new(
            field,
            format!(
                "contains {bad:?}; Target does not accept '+', '/' or control characters in it"
            ),
        ));
    }
    Ok(())
}

/// An Experience Cloud ID is 38 decimal digits. Target's profile API does not accept ECIDs, so
/// such a value is a producer mistake, whichever column it is in.
fn looks_like_ecid(id: &str) -> bool {
    id.len() == 38 && id.bytes().all(|b| b.is_ascii_digit())
}

fn ecid_problem(field: &str) -> RowProblem {
    RowProblem::new(
        field,
        "looks like an Experience Cloud ID (38 digits); Target's profile update API does not \
         accept ECIDs: use the tntId (mbox_pc) or your own customer id (mbox_3rd_party_id)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tnt_id_and_a_third_party_id_are_accepted() {
        assert_eq!(
            VisitorId::from_columns(Some("1368007744041-575948.01_00"), None),
            Ok(VisitorId::TntId("1368007744041-575948.01_00".into()))
        );
        assert_eq!(
            VisitorId::from_columns(None, Some("CRM 42=a&b")),
            Ok(VisitorId::ThirdParty("CRM 42=a&b".into()))
        );
    }

    #[test]
    fn ids_breaking_targets_rules_name_the_column_and_the_rule() {
        let ecid = "12345678901234567890123456789012345678";
        let cases = [
            (Some(ecid), None, "mbox_pc", "Experience Cloud ID"),
            (None, Some(ecid), "mbox_3rd_party_id", "Experience Cloud ID"),
            (Some("abc def"), None, "mbox_pc", "contains ' '"),
            (Some(""), None, "mbox_pc", "is empty"),
            (None, Some("a+b"), "mbox_3rd_party_id", "'+'"),
            (None, Some("a/b"), "mbox_3rd_party_id", "'/'"),
            (None, Some("  "), "mbox_3rd_party_id", "is empty"),
            (Some("a"), Some("b"), "mbox_pc", "both"),
            (None, None, "mbox_pc", "neither"),
        ];
        for (pc, third, field, rule) in cases {
            let err = VisitorId::from_columns(pc, third).err();
            let Some(err) = err else {
                panic!("{pc:?}/{third:?} was accepted")
            };
            assert_eq!(err.field, field, "{err}");
            assert!(err.rule.contains(rule), "{err}");
        }
        let long = "x".repeat(257);
        let err = VisitorId::from_columns(None, Some(&long)).err();
        assert!(err.is_some_and(|e| e.rule.contains("257 characters")));
    }
}
