//! The `--json` documents. Field names are a contract with scripts (README, "Admin CLI"): add
//! fields, never rename or remove one. Every time is given twice: `*_at` as RFC 3339 (UTC) and
//! `*_at_ms` as wall-clock milliseconds since 1970; both are null when there is no such time.

use crate::admin::{OutboxRow, RowReport, Status, TimeFrame};
use crate::words::rfc3339;
use serde::Serialize;

/// One row, as `list` and `show` give it.
#[derive(Debug, Serialize)]
pub struct RowDoc {
    pub id: i64,
    pub state: String,
    pub mbox_pc: Option<String>,
    pub mbox_3rd_party_id: Option<String>,
    pub visitor: String,
    pub source: Option<String>,
    /// The attributes object (or the stored text, should it not be JSON).
    pub attributes: serde_json::Value,
    pub created_at: String,
    pub created_at_ms: i64,
    pub updated_at: Option<String>,
    pub updated_at_ms: Option<i64>,
    /// Set for a pending row waiting for a retry: when it is due.
    pub next_attempt_at: Option<String>,
    pub next_attempt_at_ms: Option<i64>,
    pub attempts: i64,
    pub sends: i64,
    pub send_alone: bool,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl RowDoc {
    pub fn new(row: &OutboxRow, frame: &TimeFrame) -> RowDoc {
        let updated = row.updated_at.map(|t| frame.to_wall_ms(t));
        let retry = (row.state == "pending" && row.next_attempt_at > frame.now_ms())
            .then(|| frame.to_wall_ms(row.next_attempt_at));
        RowDoc {
            id: row.id,
            state: row.state.clone(),
            mbox_pc: row.mbox_pc.clone(),
            mbox_3rd_party_id: row.mbox_3rd_party_id.clone(),
            visitor: row.visitor.clone(),
            source: row.source.clone(),
            attributes: serde_json::from_str(&row.attributes)
                .unwrap_or_else(|_| serde_json::Value::String(row.attributes.clone())),
            created_at: rfc3339(row.created_at),
            created_at_ms: row.created_at,
            updated_at: updated.map(rfc3339),
            updated_at_ms: updated,
            next_attempt_at: retry.map(rfc3339),
            next_attempt_at_ms: retry,
            attempts: row.attempts,
            sends: row.sends,
            send_alone: row.send_alone,
            last_status: row.last_status,
            last_error: row.last_error.clone(),
        }
    }
}

/// `list --json`.
#[derive(Debug, Serialize)]
pub struct ListDoc {
    pub rows: Vec<RowDoc>,
    /// More rows match than `--limit` let through.
    pub more: bool,
}

/// `show --json`.
#[derive(Debug, Serialize)]
pub struct ShowDoc {
    pub row: RowDoc,
    /// Why the row is where it is, in one sentence.
    pub why: String,
    pub notes: Vec<String>,
    /// A rule of Target's the row breaks, as `field: rule`.
    pub problem: Option<String>,
    /// Older unfinished rows of the visitor this row waits for.
    pub waiting_behind: Option<AheadDoc>,
    /// Newer unfinished rows of the visitor waiting for this one.
    pub rows_waiting_behind: i64,
    /// Newer rows of the visitor already delivered (given for failed rows).
    pub newer_delivered: Option<NewerDoc>,
}

#[derive(Debug, Serialize)]
pub struct AheadDoc {
    pub first_id: i64,
    pub first_state: String,
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub struct NewerDoc {
    pub count: i64,
    pub latest_id: i64,
}

impl ShowDoc {
    pub fn new(report: &RowReport) -> ShowDoc {
        let s = &report.situation;
        ShowDoc {
            row: RowDoc::new(&report.row, &report.frame),
            why: report.explanation.summary.clone(),
            notes: report.explanation.notes.clone(),
            problem: s.problem.as_ref().map(ToString::to_string),
            waiting_behind: s.ahead.as_ref().map(|a| AheadDoc {
                first_id: a.first_id,
                first_state: a.first_state.to_string(),
                count: a.count,
            }),
            rows_waiting_behind: s.behind,
            newer_delivered: s.newer_delivered.map(|n| NewerDoc {
                count: n.count,
                latest_id: n.latest_id,
            }),
        }
    }
}

/// `status --json`.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub database: String,
    pub checked_at: String,
    pub checked_at_ms: i64,
    /// No reason for attention: `status` exits 0.
    pub healthy: bool,
    pub attention: Vec<String>,
    pub daemon: DaemonDoc,
    pub rows: CountsDoc,
    pub oldest_pending: Option<OldestDoc>,
    pub due_now: i64,
    pub next_retry_at: Option<String>,
    pub next_retry_at_ms: Option<i64>,
    pub quota: QuotaDoc,
    pub pause: Option<PauseDoc>,
    pub last_delivery_at: Option<String>,
    pub last_delivery_at_ms: Option<i64>,
    pub last_error: Option<ErrorDoc>,
}

#[derive(Debug, Serialize)]
pub struct DaemonDoc {
    pub running: bool,
    /// The pid the daemon saved; of the last daemon when none runs now.
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    pub started_at_ms: Option<i64>,
    pub heartbeat_at: Option<String>,
    pub heartbeat_at_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct CountsDoc {
    pub pending: i64,
    pub in_flight: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Of the failed rows, those whose visitor Target has no profile for.
    pub failed_no_profile: i64,
    pub cancelled: i64,
}

#[derive(Debug, Serialize)]
pub struct OldestDoc {
    pub id: i64,
    pub created_at: String,
    pub created_at_ms: i64,
    pub age_ms: i64,
}

#[derive(Debug, Serialize)]
pub struct QuotaDoc {
    pub limit: i64,
    pub used: i64,
    pub left: i64,
    /// Set when the quota is spent: when the next call is allowed.
    pub next_free_at: Option<String>,
    pub next_free_at_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct PauseDoc {
    /// `slow_down`, `endpoint_down`, `unauthorized` or `quota_spent`.
    pub reason: String,
    /// `open` (paused) or `half_open` (the next request is a probe).
    pub circuit: String,
    pub until: Option<String>,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ErrorDoc {
    pub message: String,
    pub at: Option<String>,
    pub at_ms: Option<i64>,
}

impl StatusDoc {
    pub fn new(status: &Status) -> StatusDoc {
        let attention = status.attention();
        let saved = status.daemon.saved.as_ref();
        let c = status.counts;
        StatusDoc {
            database: status.database.display().to_string(),
            checked_at: rfc3339(status.now_ms),
            checked_at_ms: status.now_ms,
            healthy: attention.is_empty(),
            attention,
            daemon: DaemonDoc {
                running: status.daemon.running,
                pid: saved.and_then(|s| s.pid),
                started_at: saved.and_then(|s| s.started_at).map(rfc3339),
                started_at_ms: saved.and_then(|s| s.started_at),
                heartbeat_at: saved.and_then(|s| s.heartbeat_at).map(rfc3339),
                heartbeat_at_ms: saved.and_then(|s| s.heartbeat_at),
            },
            rows: CountsDoc {
                pending: c.pending,
                in_flight: c.in_flight,
                delivered: c.delivered,
                failed: c.failed,
                failed_no_profile: c.failed_no_profile,
                cancelled: c.cancelled,
            },
            oldest_pending: status.oldest_pending.map(|(id, at)| OldestDoc {
                id,
                created_at: rfc3339(at),
                created_at_ms: at,
                age_ms: status.now_ms.saturating_sub(at),
            }),
            due_now: status.due_now,
            next_retry_at: status.next_retry_at_ms.map(rfc3339),
            next_retry_at_ms: status.next_retry_at_ms,
            quota: QuotaDoc {
                limit: status.quota.limit,
                used: status.quota.used,
                left: status.quota.left(),
                next_free_at: status.quota.next_free_at.map(rfc3339),
                next_free_at_ms: status.quota.next_free_at,
            },
            pause: status.pause().map(|(reason, until)| PauseDoc {
                reason: reason.to_owned(),
                circuit: saved.map_or_else(|| "closed".into(), |s| s.circuit.clone()),
                until: until.map(rfc3339),
                until_ms: until,
            }),
            last_delivery_at: saved.and_then(|s| s.last_delivery_at).map(rfc3339),
            last_delivery_at_ms: saved.and_then(|s| s.last_delivery_at),
            last_error: saved.and_then(|s| {
                s.last_error.as_ref().map(|message| ErrorDoc {
                    message: message.clone(),
                    at: s.last_error_at.map(rfc3339),
                    at_ms: s.last_error_at,
                })
            }),
        }
    }
}
