//! Why a row is where it is, in plain words: a pure function from the row and the facts around it
//! (its visitor's other rows, the quota, the daemon) to a sentence and a few notes.

use crate::adobe::RowProblem;
use crate::outbox::State;
use crate::words::{relative, when};

/// Older rows of the same visitor still unfinished: the row waits for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ahead {
    /// The oldest of them, the one the daemon sends first.
    pub first_id: i64,
    pub first_state: State,
    pub count: i64,
}

/// Newer rows of the same visitor already delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewerDelivered {
    pub count: i64,
    pub latest_id: i64,
}

/// A pause a running daemon reports: `slow_down`, `endpoint_down` or `unauthorized`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    pub reason: String,
    pub until_ms: Option<i64>,
}

/// The row and the facts around it. Times are wall-clock ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Situation {
    pub id: i64,
    pub state: State,
    pub now_ms: i64,
    /// When a pending row is due, if not yet.
    pub retry_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// A rule of Target's the row breaks, found by checking it as the daemon will.
    pub problem: Option<RowProblem>,
    pub ahead: Option<Ahead>,
    /// Newer unfinished rows of the visitor waiting for this one.
    pub behind: i64,
    pub newer_delivered: Option<NewerDelivered>,
    pub quota_spent_until_ms: Option<i64>,
    pub pause: Option<Pause>,
    pub daemon_running: bool,
}

/// The answer: one sentence, and notes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    pub summary: String,
    pub notes: Vec<String>,
}

/// Explains `s`.
pub fn explain(s: &Situation) -> Explanation {
    let mut e = match s.state {
        State::Pending => pending(s),
        State::InFlight => in_flight(s),
        State::Delivered => Explanation {
            summary: format!(
                "delivered{}{}",
                s.updated_at_ms
                    .map(|t| format!(" at {}", when(t, s.now_ms)))
                    .unwrap_or_default(),
                s.last_status
                    .map(|c| format!(" (HTTP {c})"))
                    .unwrap_or_default()
            ),
            notes: Vec::new(),
        },
        State::Failed => failed(s),
        State::Cancelled => Explanation {
            summary: format!(
                "cancelled by an operator{}; it will not be sent",
                s.updated_at_ms
                    .map(|t| format!(" at {}", when(t, s.now_ms)))
                    .unwrap_or_default()
            ),
            notes: Vec::new(),
        },
    };
    if s.behind > 0 && matches!(s.state, State::Pending | State::InFlight) {
        let (rows, verb) = if s.behind == 1 {
            ("row", "waits")
        } else {
            ("rows", "wait")
        };
        e.notes.push(format!(
            "{} newer {rows} of this visitor {verb} for this one",
            s.behind
        ));
    }
    e
}

fn pending(s: &Situation) -> Explanation {
    let mut reasons = Vec::new();
    if let Some(at) = s.retry_at_ms {
        reasons.push(format!(
            "waiting for retry at {} after {}",
            when(at, s.now_ms),
            cause(s)
        ));
    }
    if let Some(ahead) = &s.ahead {
        let more = match ahead.count {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        reasons.push(format!(
            "waiting behind row {} ({}){more} for the same visitor: a visitor's rows go out \
             oldest first",
            ahead.first_id, ahead.first_state
        ));
    }
    if let Some(pause) = &s.pause {
        reasons.push(paused(pause, s.now_ms));
    }
    if let Some(until) = s.quota_spent_until_ms {
        reasons.push(format!(
            "quota spent until {}: Target's 24-hour call limit is used up",
            when(until, s.now_ms)
        ));
    }
    if !s.daemon_running {
        reasons.push("no daemon is running on this database".into());
    }
    let mut reasons = reasons.into_iter();
    let summary = reasons
        .next()
        .unwrap_or_else(|| "due now: the daemon sends it in its next round".into());
    let mut notes: Vec<String> = reasons.map(|r| format!("also {r}")).collect();
    if let Some(problem) = &s.problem {
        notes.push(format!(
            "will be set aside as failed when its turn comes: {}",
            plain(problem)
        ));
    }
    if let (None, Some(error)) = (s.retry_at_ms, &s.last_error) {
        notes.push(format!("last error: {error}"));
    }
    Explanation { summary, notes }
}

fn in_flight(s: &Situation) -> Explanation {
    let summary = if s.daemon_running {
        let since = s
            .updated_at_ms
            .map(|t| format!(" (claimed {})", relative(t, s.now_ms)))
            .unwrap_or_default();
        format!("being sent now{since}")
    } else {
        "left in flight by a daemon that stopped; the next `profile-outbox run` sends it again"
            .into()
    };
    Explanation {
        summary,
        notes: Vec::new(),
    }
}

fn failed(s: &Situation) -> Explanation {
    let reason = match (&s.problem, &s.last_error) {
        (Some(problem), _) => plain(problem),
        (None, Some(error)) => error.clone(),
        (None, None) => "no reason recorded".into(),
    };
    let id = s.id;
    let mut notes = Vec::new();
    if reason.starts_with(crate::delivery::NO_PROFILE) {
        notes.push(format!(
            "Target's profile fetch API found no profile for this visitor for the whole of \
             target.profile_wait, and the update API only updates profiles Target has; check that \
             the producer writes the id Target knows (Target's own mbox_pc, or the \
             mbox3rdPartyId your site sends), then `profile-outbox retry {id}` looks it up \
             again, or `profile-outbox cancel {id}`"
        ));
    } else if s.problem.is_some() {
        notes.push(format!(
            "the row's own data is the cause: it breaks one of Target's rules, so retrying would \
             only fail again; have the producer write a corrected row (or add one with \
             `profile-outbox enqueue`), then `profile-outbox cancel {id}`"
        ));
    } else if let Some(newer) = s.newer_delivered {
        notes.push(format!(
            "careful: {} of this visitor delivered after it (latest: row {}); \
             retrying would send this older value after the newer one, and it could overwrite \
             it at Target, so `profile-outbox retry {id}` refuses unless given \
             --even-if-newer-sent; usually `profile-outbox cancel {id}` is the fix",
            if newer.count == 1 {
                "a newer row was".to_owned()
            } else {
                format!("{} newer rows were", newer.count)
            },
            newer.latest_id
        ));
    } else {
        notes.push(format!(
            "once the cause is fixed, `profile-outbox retry {id}` sends it again"
        ));
    }
    Explanation {
        summary: format!("failed: {reason}"),
        notes,
    }
}

/// What led to a retry: the HTTP status, else the error.
fn cause(s: &Situation) -> String {
    match (s.last_status, &s.last_error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "an earlier try".into(),
    }
}

fn paused(pause: &Pause, now_ms: i64) -> String {
    let why = match pause.reason.as_str() {
        "slow_down" => "Target asked to slow down",
        "endpoint_down" => "Target cannot be reached",
        "unauthorized" => {
            "Target refuses the token (see `profile-outbox status` for how to replace it)"
        }
        other => other,
    };
    match pause.until_ms {
        Some(until) => format!("delivery paused until {}: {why}", when(until, now_ms)),
        None => format!("delivery paused: {why}; the next request probes whether it passed"),
    }
}

/// `value of loyalty_note is 412 characters, Target allows 256`.
fn plain(problem: &RowProblem) -> String {
    format!("{} {}", problem.field, problem.rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::clock_time;

    const NOW: i64 = 1_795_874_707_000;
    const MIN: i64 = 60_000;

    fn situation(state: State) -> Situation {
        Situation {
            id: 1190,
            state,
            now_ms: NOW,
            retry_at_ms: None,
            updated_at_ms: Some(NOW - MIN),
            last_status: None,
            last_error: None,
            problem: None,
            ahead: None,
            behind: 0,
            newer_delivered: None,
            quota_spent_until_ms: None,
            pause: None,
            daemon_running: true,
        }
    }

    #[test]
    fn a_row_backing_off_waits_for_its_retry_after_the_answer_it_got() {
        let mut s = situation(State::Pending);
        s.retry_at_ms = Some(NOW + 3 * MIN);
        s.last_status = Some(503);
        let e = explain(&s);
        assert_eq!(
            e.summary,
            format!(
                "waiting for retry at {} (in 3m) after HTTP 503",
                clock_time(NOW + 3 * MIN)
            )
        );
    }

    #[test]
    fn a_row_behind_an_older_row_of_its_visitor_names_that_row() {
        let mut s = situation(State::Pending);
        s.ahead = Some(Ahead {
            first_id: 1183,
            first_state: State::Pending,
            count: 2,
        });
        let e = explain(&s);
        assert!(
            e.summary
                .starts_with("waiting behind row 1183 (pending) and 1 more for the same visitor"),
            "{}",
            e.summary
        );
    }

    #[test]
    fn a_due_row_waits_for_the_quota() {
        let mut s = situation(State::Pending);
        s.quota_spent_until_ms = Some(NOW + 90 * MIN);
        assert!(explain(&s).summary.starts_with(&format!(
            "quota spent until {} (in 1h 30m)",
            clock_time(NOW + 90 * MIN)
        )));
    }

    #[test]
    fn a_due_row_with_no_daemon_says_so_and_otherwise_goes_next() {
        let mut s = situation(State::Pending);
        assert_eq!(
            explain(&s).summary,
            "due now: the daemon sends it in its next round"
        );
        s.daemon_running = false;
        assert_eq!(explain(&s).summary, "no daemon is running on this database");
    }

    #[test]
    fn a_paused_daemon_holds_every_due_row() {
        let mut s = situation(State::Pending);
        s.pause = Some(Pause {
            reason: "unauthorized".into(),
            until_ms: Some(NOW + 30_000),
        });
        let summary = explain(&s).summary;
        assert!(summary.starts_with("delivery paused until"), "{summary}");
        assert!(summary.contains("refuses the token"), "{summary}");
    }

    #[test]
    fn a_row_breaking_a_rule_says_which_field_and_which_rule() {
        let mut s = situation(State::Failed);
        s.problem = Some(RowProblem::new(
            "value of loyalty_note",
            "is 412 characters, Target allows 256",
        ));
        s.last_error = Some("value of loyalty_note: is 412 characters, Target allows 256".into());
        let e = explain(&s);
        assert_eq!(
            e.summary,
            "failed: value of loyalty_note is 412 characters, Target allows 256"
        );
        let notes = e.notes.join("\n");
        assert!(
            notes.contains("the row's own data is the cause")
                && notes.contains("profile-outbox cancel 1190"),
            "{notes}"
        );
        assert!(
            !notes.contains("once the cause is fixed") && !notes.contains("retry 1190"),
            "a row that breaks a rule would only fail again: {notes}"
        );
    }

    #[test]
    fn a_failed_row_warns_when_newer_rows_of_its_visitor_went_out() {
        let mut s = situation(State::Failed);
        s.last_error = Some("Target refused the row 5 times; last answer HTTP 400: bad".into());
        s.newer_delivered = Some(NewerDelivered {
            count: 2,
            latest_id: 1201,
        });
        let e = explain(&s);
        assert!(
            e.summary
                .starts_with("failed: Target refused the row 5 times")
        );
        assert!(
            e.notes
                .iter()
                .any(|n| n.contains("row 1201") && n.contains("older value")),
            "{:?}",
            e.notes
        );
    }

    #[test]
    fn rows_in_flight_delivered_and_cancelled_say_what_happened() {
        assert!(
            explain(&situation(State::InFlight))
                .summary
                .starts_with("being sent now")
        );
        let mut stopped = situation(State::InFlight);
        stopped.daemon_running = false;
        assert!(
            explain(&stopped)
                .summary
                .contains("next `profile-outbox run` sends it again")
        );
        let mut delivered = situation(State::Delivered);
        delivered.last_status = Some(200);
        assert!(explain(&delivered).summary.ends_with("(1m ago) (HTTP 200)"));
        assert!(
            explain(&situation(State::Cancelled))
                .summary
                .starts_with("cancelled by an operator")
        );
    }
}
