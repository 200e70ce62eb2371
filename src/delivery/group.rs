//! One visitor's claimed rows, from check to requests: which rows are set aside, and which parts
//! carry the rest. Pure, so every branch is unit-tested.
//!
//! A part is a run of consecutive rows merged into one request (newest value wins), or a single
//! row too large for one request, split into several. Parts never cut through a merge: so when
//! Target takes the first parts and refuses a later one, the rows it took are whole and older than
//! every row it did not, and sending the rest again row by row can never put an older value after
//! a newer one (docs/delivery.md, "Splitting along rows").

use super::problem_decision;
use crate::adobe::{Endpoint, PreparedRequest, ProfileUpdate, RowProblem, VisitorId, prepare};
use crate::outbox::{ClaimedRow, RowResult};

/// What to send for one group, and the rows it carries.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The rows that passed the checks, oldest first, in the parts that carry them.
    pub parts: Vec<Part>,
    /// Rows that break Target's rules: already decided, never sent.
    pub set_aside: Vec<RowResult>,
}

/// Consecutive rows and the requests that carry them: one request for a merge of rows, one or
/// more for a single row.
#[derive(Clone, Debug)]
pub struct Part {
    pub rows: Vec<ClaimedRow>,
    pub requests: Vec<PreparedRequest>,
}

impl Plan {
    /// Checks every row, then merges the good ones into as few parts as fit Target's size limit.
    pub fn new(group: Vec<ClaimedRow>, endpoint: &Endpoint) -> Plan {
        let mut checked = Vec::with_capacity(group.len());
        let mut set_aside = Vec::new();
        for row in group {
            match ProfileUpdate::from_row(
                row.mbox_pc.as_deref(),
                row.mbox_3rd_party_id.as_deref(),
                &row.attributes,
            ) {
                Ok(update) => checked.push((row, update)),
                Err(problem) => set_aside.push(set_aside_row(&row, &problem)),
            }
        }
        let mut parts = Vec::new();
        for run in runs(checked, endpoint) {
            match part(run, endpoint) {
                Ok(part) => parts.push(part),
                // Cannot happen within Target's per-row limits; if it does, no row is lost.
                Err((rows, problem)) => {
                    set_aside.extend(rows.iter().map(|row| set_aside_row(row, &problem)))
                }
            }
        }
        Plan { parts, set_aside }
    }

    /// Requests for the whole plan.
    pub fn calls(&self) -> usize {
        self.parts.iter().map(|p| p.requests.len()).sum()
    }

    /// The visitor the plan's rows are for, if any row passed the checks.
    pub fn visitor(&self) -> Option<VisitorId> {
        let row = self.rows().next()?;
        VisitorId::from_columns(row.mbox_pc.as_deref(), row.mbox_3rd_party_id.as_deref()).ok()
    }

    /// The plan's rows, oldest first, set-aside rows excepted.
    pub fn rows(&self) -> impl Iterator<Item = &ClaimedRow> {
        self.parts.iter().flat_map(|p| p.rows.iter())
    }
}

fn set_aside_row(row: &ClaimedRow, problem: &RowProblem) -> RowResult {
    tracing::warn!(row = row.id, reason = %problem, "row set aside as failed before sending");
    RowResult {
        id: row.id,
        requests: 0,
        decision: problem_decision(problem, row.attempts),
    }
}

type Checked = (ClaimedRow, ProfileUpdate);

/// Cuts the checked rows into runs whose merge fits one request, oldest first. A row that does not
/// fit one request even alone is a run of its own. The usual case, everything fitting at once,
/// costs one merge.
fn runs(checked: Vec<Checked>, endpoint: &Endpoint) -> Vec<Vec<Checked>> {
    if checked.len() <= 1 || fits_one_request(checked.iter().map(|c| &c.1), endpoint) {
        return vec![checked];
    }
    let mut runs: Vec<Vec<Checked>> = Vec::new();
    let mut current: Vec<Checked> = Vec::new();
    for next in checked {
        let fits = current.is_empty()
            || fits_one_request(current.iter().map(|c| &c.1).chain([&next.1]), endpoint);
        if !fits {
            runs.push(std::mem::take(&mut current));
        }
        current.push(next);
    }
    runs.push(current);
    runs
}

fn fits_one_request<'a>(
    updates: impl Iterator<Item = &'a ProfileUpdate>,
    endpoint: &Endpoint,
) -> bool {
    ProfileUpdate::merge(updates.cloned())
        .map(|update| matches!(prepare(endpoint, &update), Ok(requests) if requests.len() <= 1))
        .unwrap_or(true)
}

fn part(run: Vec<Checked>, endpoint: &Endpoint) -> Result<Part, (Vec<ClaimedRow>, RowProblem)> {
    let (rows, updates): (Vec<ClaimedRow>, Vec<ProfileUpdate>) = run.into_iter().unzip();
    let requests = match ProfileUpdate::merge(updates).map(|u| prepare(endpoint, &u)) {
        Some(Ok(requests)) => requests,
        Some(Err(problem)) => return Err((rows, problem)),
        None => Vec::new(),
    };
    Ok(Part { rows, requests })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;

    pub(crate) fn row(id: i64, attributes: &str) -> ClaimedRow {
        ClaimedRow {
            id,
            mbox_pc: Some("1-1.01_00".into()),
            mbox_3rd_party_id: None,
            attributes: attributes.into(),
            attempts: 0,
        }
    }

    pub(crate) fn endpoint() -> Endpoint {
        let base = url::Url::parse("http://127.0.0.1:9").map_err(|e| e.to_string());
        let Ok(base) = base else {
            panic!("bad test URL")
        };
        Endpoint::new(&base, "acme", Method::Get)
    }

    /// A row with one attribute `name` whose value is `len` letters.
    fn big_row(id: i64, name: &str, len: usize) -> ClaimedRow {
        let value = "x".repeat(len);
        row(id, &format!(r#"{{"{name}":"{value}"}}"#))
    }

    #[test]
    fn a_group_is_one_request_with_the_newest_values_and_bad_rows_set_aside() {
        let plan = Plan::new(
            vec![
                row(1, r#"{"tier":"silver","a":"1"}"#),
                row(2, r#"{"tier":[]}"#),
                row(3, r#"{"tier":"gold"}"#),
            ],
            &endpoint(),
        );
        assert_eq!(plan.rows().map(|r| r.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(plan.set_aside.len(), 1);
        assert_eq!((plan.parts.len(), plan.calls()), (1, 1));
        let url = &plan.parts[0].requests[0].url;
        assert!(
            url.ends_with("?mboxPC=1-1.01_00&profile.a=1&profile.tier=gold"),
            "{url}"
        );
    }

    #[test]
    fn a_merge_too_large_for_one_request_is_cut_between_rows_never_through_one() {
        // 40 rows of 250 letters, each under its own name: about 10 KB merged, past the 8 KB of a
        // GET, so the merge needs two requests.
        let rows: Vec<ClaimedRow> = (1..=40)
            .map(|id| big_row(id, &format!("a{id:02}"), 250))
            .collect();
        let plan = Plan::new(rows, &endpoint());
        assert!(plan.parts.len() >= 2, "{} parts", plan.parts.len());
        let mut next = 1;
        for part in &plan.parts {
            assert_eq!(part.requests.len(), 1, "a merge of rows is one request");
            for row in &part.rows {
                assert_eq!(row.id, next, "parts keep the rows in order");
                next += 1;
            }
        }
        assert_eq!(next, 41, "every row is in a part");
    }

    #[test]
    fn a_row_too_large_for_one_request_is_a_part_of_its_own_with_several_requests() {
        let huge: String = (0..40)
            .map(|n| format!(r#""b{n:02}":"{}""#, "y".repeat(250)))
            .collect::<Vec<_>>()
            .join(",");
        let plan = Plan::new(
            vec![
                row(1, r#"{"tier":"silver"}"#),
                row(2, &format!("{{{huge}}}")),
                row(3, r#"{"tier":"gold"}"#),
            ],
            &endpoint(),
        );
        let shape: Vec<(Vec<i64>, usize)> = plan
            .parts
            .iter()
            .map(|p| (p.rows.iter().map(|r| r.id).collect(), p.requests.len()))
            .collect();
        assert_eq!(shape.len(), 3, "{shape:?}");
        assert_eq!(shape[0], (vec![1], 1));
        assert_eq!(shape[1].0, vec![2]);
        assert!(shape[1].1 >= 2, "{shape:?}");
        assert_eq!(shape[2], (vec![3], 1));
    }
}
