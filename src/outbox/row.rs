//! What a row is to the daemon: its state and the fields a claim hands to delivery.

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
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedRow {
    pub id: i64,
    pub mbox_pc: Option<String>,
    pub mbox_3rd_party_id: Option<String>,
    pub attributes: String,
    /// Earlier refusals by Target for this row's own fault.
    pub attempts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
        assert_eq!(State::parse("sent"), None);
    }
}
