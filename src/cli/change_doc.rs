//! The `--json` documents of the changing commands (`retry`, `cancel`, `purge`), for what they did
//! and, with `--dry-run` or a refusal, what they would do. Field names are a contract with scripts
//! (README, "JSON documents"): add fields, never rename or remove one.

use crate::admin::{Applied, Need, Newer, Plan};
use serde::Serialize;

/// `retry --json` and `cancel --json`: what was changed, or with `--dry-run` or a refusal, what
/// would be.
#[derive(Debug, Serialize)]
pub struct ChangeDoc {
    /// `retry` or `cancel`.
    pub action: &'static str,
    /// `--dry-run`: nothing was changed, by request.
    pub dry_run: bool,
    /// The change was made (false for a dry run and a refusal).
    pub done: bool,
    /// Flags the command line lacks for the change to go ahead, each with the reason; empty when
    /// it went (or would go) ahead.
    pub needs: Vec<NeedDoc>,
    /// Rows found that the change applies to.
    pub matched: usize,
    /// Their ids: the rows the change would touch.
    pub would_change: Vec<i64>,
    /// Ids of the rows changed.
    pub changed: Vec<i64>,
    /// Rows found that changed state before the change reached them (the daemon claimed them,
    /// say); left alone.
    pub left_alone: Vec<i64>,
    /// Rows named by id that the change does not apply to; `state` is null for a missing row.
    pub refused: Vec<RefusedDoc>,
    /// Rows found with a newer row of their visitor in flight or delivered (a retry would send
    /// their older value after it).
    pub out_of_order: Vec<NewerRowDoc>,
    /// Rows found whose own data breaks one of Target's rules, as `field: rule`.
    pub breaks_rules: Vec<ProblemDoc>,
    /// Rows left failed because a newer row of their visitor went out between the look and the
    /// change.
    pub overtaken: Vec<NewerRowDoc>,
    /// `cancel`: rows matching the selection that are in flight (being sent), which no command
    /// changes; the daemon delivers them or hands them back as pending.
    pub left_in_flight: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct NeedDoc {
    pub flag: &'static str,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct RefusedDoc {
    pub id: i64,
    pub state: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NewerRowDoc {
    pub id: i64,
    pub newer_id: i64,
    pub newer_state: String,
}

#[derive(Debug, Serialize)]
pub struct ProblemDoc {
    pub id: i64,
    pub problem: String,
}

impl ChangeDoc {
    /// The plan, before any change: for `--dry-run` and for a refusal.
    pub fn preview(plan: &Plan, needs: &[Need], mode: ChangeMode) -> ChangeDoc {
        ChangeDoc {
            action: plan.change.action(),
            dry_run: mode == ChangeMode::DryRun,
            done: false,
            needs: needs
                .iter()
                .map(|n| NeedDoc {
                    flag: n.permit.flag(),
                    why: n.why.clone(),
                })
                .collect(),
            matched: plan.rows.len(),
            would_change: plan.ids(),
            changed: Vec::new(),
            left_alone: Vec::new(),
            refused: plan
                .refused
                .iter()
                .map(|r| RefusedDoc {
                    id: r.id,
                    state: r.state.map(|s| s.to_string()),
                })
                .collect(),
            out_of_order: plan
                .rows
                .iter()
                .filter_map(|c| c.newer.as_ref().map(|n| newer_doc(c.id, n)))
                .collect(),
            breaks_rules: plan
                .rows
                .iter()
                .filter_map(|c| {
                    c.problem.as_ref().map(|p| ProblemDoc {
                        id: c.id,
                        problem: p.to_string(),
                    })
                })
                .collect(),
            overtaken: Vec::new(),
            left_in_flight: Vec::new(),
        }
    }

    /// The plan and what the change did.
    pub fn applied(plan: &Plan, applied: &Applied) -> ChangeDoc {
        ChangeDoc {
            done: true,
            changed: applied.changed.clone(),
            left_alone: applied.left_alone.clone(),
            overtaken: applied
                .overtaken
                .iter()
                .map(|(id, n)| newer_doc(*id, n))
                .collect(),
            ..ChangeDoc::preview(plan, &[], ChangeMode::Apply)
        }
    }

    /// Whether every row asked for was changed and none matching was left in flight.
    pub fn complete(&self) -> bool {
        self.refused.is_empty()
            && self.left_alone.is_empty()
            && self.overtaken.is_empty()
            && self.left_in_flight.is_empty()
    }
}

fn newer_doc(id: i64, newer: &Newer) -> NewerRowDoc {
    NewerRowDoc {
        id,
        newer_id: newer.id,
        newer_state: newer.state.to_string(),
    }
}

/// Whether a command changes rows or only says what it would change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeMode {
    Apply,
    DryRun,
}

/// `purge --json`.
#[derive(Debug, Serialize)]
pub struct PurgeDoc {
    /// `--dry-run`: nothing was deleted, by request.
    pub dry_run: bool,
    /// The rows were deleted (false for a dry run and a refusal).
    pub done: bool,
    /// Flags the command line lacks to go ahead (`--yes` before more than one row).
    pub needs: Vec<NeedDoc>,
    /// Rows the purge takes, counted before deleting.
    pub would_delete: u64,
    pub deleted: u64,
    pub states: Vec<String>,
    pub created_before: String,
    pub created_before_ms: i64,
}
