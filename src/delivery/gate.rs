//! The gate in front of every request: it closes for everyone when Target says slow down, is out
//! of reach, or refuses the token, and reopens with a single probe request before full speed.
//!
//! Pure state driven by the outcomes it is shown and the time it is told (timeline milliseconds),
//! so tests step it without sleeping.

use crate::adobe::Outcome;
use crate::clock::millis;
use std::time::Duration;

/// Why delivery is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseReason {
    /// 429 or 503.
    SlowDown,
    /// No usable answer from Target.
    EndpointDown,
    /// 401 or 403: the token is wrong or expired.
    Unauthorized,
}

impl PauseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::SlowDown => "slow_down",
            PauseReason::EndpointDown => "endpoint_down",
            PauseReason::Unauthorized => "unauthorized",
        }
    }
}

/// How much the gate lets through now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// Full speed.
    Open,
    /// One request, to see whether Target is back.
    Probe,
    /// Nothing until this much time has passed.
    Wait(Duration),
}

/// The gate's state.
#[derive(Clone, Debug)]
pub struct Gate {
    initial: Duration,
    max: Duration,
    max_retry_after: Duration,
    /// Failures in a row since the last answer that showed Target working.
    failures: u32,
    reason: Option<PauseReason>,
    /// End of the pause the gate chose itself (backoff); a working answer ends it early.
    closed_until: Option<i64>,
    /// End of a pause Target asked for with `Retry-After`; it holds even when requests sent
    /// before it succeed.
    requested_until: Option<i64>,
    /// When the latest answer that paused everyone came. A working answer to a request sent
    /// before then says nothing about Target now, and does not end the pause.
    failed_at: Option<i64>,
}

/// What the gate made of one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The answer reads as "Target is unusable", but it came for rows under suspicion while the
    /// gate was open: it is those rows' fault, and the gate stays as it was.
    RowsFault,
    /// The answer was taken as news about Target.
    Observed {
        /// The gate changed between open and paused (log it once).
        changed: bool,
    },
}

impl Gate {
    /// A gate whose pauses grow from `initial` to `max`; a server-requested `Retry-After` is
    /// honoured up to `max_retry_after`.
    pub fn new(initial: Duration, max: Duration, max_retry_after: Duration) -> Gate {
        Gate {
            initial,
            max,
            max_retry_after,
            failures: 0,
            reason: None,
            closed_until: None,
            requested_until: None,
            failed_at: None,
        }
    }

    /// Carries over a pause Target asked for with `Retry-After` from before a restart, ending at
    /// `until` (timeline ms).
    pub fn resume_requested_pause(&mut self, until: i64) {
        self.requested_until = Some(until);
        self.reason = Some(PauseReason::SlowDown);
    }

    /// Learns from the answer to a request sent at `sent_at_ms`. `suspect`: the request carries only
    /// rows whose request closed the open gate before. Such rows meeting an outage or a refused
    /// token again while everyone else's requests work is the rows' own doing: a WAF refusing one
    /// value, a request that always breaks the server. `jitter` is in `[0, 1)`.
    pub fn judge(
        &mut self,
        outcome: &Outcome,
        sent_at_ms: i64,
        now_ms: i64,
        suspect: bool,
        jitter: f64,
    ) -> Verdict {
        let open = self.allowance(now_ms) == Allowance::Open;
        if suspect && open && blamable(outcome) {
            return Verdict::RowsFault;
        }
        Verdict::Observed {
            changed: self.observe_sent(outcome, sent_at_ms, now_ms, jitter),
        }
    }

    pub fn allowance(&self, now_ms: i64) -> Allowance {
        match self.closed_until(now_ms) {
            Some(until) => Allowance::Wait(Duration::from_millis(
                u64::try_from(until - now_ms).unwrap_or(0),
            )),
            _ if self.failures > 0 => Allowance::Probe,
            _ => Allowance::Open,
        }
    }

    /// The circuit's state as operators see it: `closed` (delivering), `open` (paused) or
    /// `half_open` (the next request is a probe).
    pub fn circuit(&self, now_ms: i64) -> &'static str {
        match self.allowance(now_ms) {
            Allowance::Open => "closed",
            Allowance::Probe => "half_open",
            Allowance::Wait(_) => "open",
        }
    }

    /// Until when the gate is closed, if it is.
    pub fn closed_until(&self, now_ms: i64) -> Option<i64> {
        self.closed_until
            .max(self.requested_until)
            .filter(|until| *until > now_ms)
    }

    /// A new token ends a pause caused by a refused token at once: the next request probes it.
    pub fn token_changed(&mut self) {
        if self.reason == Some(PauseReason::Unauthorized) {
            self.closed_until = None;
        }
    }

    /// Why the gate is not fully open, if it is not.
    pub fn reason(&self) -> Option<PauseReason> {
        self.reason
    }

    /// Learns from one answer to a request sent just now. Returns true when the gate changed
    /// between open and paused, so the caller can log the change once rather than for every
    /// request. `jitter` is in `[0, 1)`.
    pub fn observe(&mut self, outcome: &Outcome, now_ms: i64, jitter: f64) -> bool {
        self.observe_sent(outcome, now_ms, now_ms, jitter)
    }

    fn observe_sent(
        &mut self,
        outcome: &Outcome,
        sent_at_ms: i64,
        now_ms: i64,
        jitter: f64,
    ) -> bool {
        let was = self.reason;
        let (reason, requested) = match outcome {
            // Sent before the latest failure: it tells nothing of Target since.
            _ if works(outcome) && self.failed_at.is_some_and(|at| sent_at_ms < at) => {
                return false;
            }
            // Any answer about the row itself shows that Target is up and takes our token.
            Outcome::Delivered { .. } | Outcome::Rejected { .. } => {
                self.failures = 0;
                self.closed_until = None;
                let requested = self.requested_until.is_some_and(|until| until > now_ms);
                self.reason = requested.then_some(PauseReason::SlowDown);
                return was != self.reason;
            }
            Outcome::SlowDown { retry_after, .. } => (PauseReason::SlowDown, *retry_after),
            Outcome::EndpointDown { .. } => (PauseReason::EndpointDown, None),
            Outcome::Unauthorized { .. } => (PauseReason::Unauthorized, None),
        };
        self.failures = self.failures.saturating_add(1);
        let wait = match (reason, requested) {
            (_, Some(wait)) => wait.min(self.max_retry_after),
            // A refused token will not fix itself: wait for the token file to change, with only a
            // rare probe (every `max` or so) in case the account's settings changed instead.
            (PauseReason::Unauthorized, None) => super::backoff(self.max, self.max, 1, jitter),
            (_, None) => super::backoff(self.initial, self.max, self.failures, jitter),
        };
        let until = now_ms.saturating_add(millis(wait));
        // Several requests in flight can fail together; the latest end of the pause wins.
        let slot = if requested.is_some() {
            &mut self.requested_until
        } else {
            &mut self.closed_until
        };
        *slot = Some(slot.map_or(until, |u| u.max(until)));
        self.reason = Some(reason);
        self.failed_at = Some(now_ms);
        was != Some(reason)
    }
}

/// An answer that reads as "Target is unusable for everyone" but can be one row's doing (a
/// firewall refusing one value, a value that breaks the server): its rows become suspects. A
/// slow-down or a timeout is never pinned on a row: a slow Target makes many requests time out.
pub fn blamable(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::EndpointDown { .. } => !outcome.is_timeout(),
        Outcome::Unauthorized { .. } => true,
        _ => false,
    }
}

/// An answer that shows Target up and taking our token.
fn works(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Delivered { .. } | Outcome::Rejected { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    fn down() -> Outcome {
        Outcome::EndpointDown {
            status: None,
            reason: "refused".into(),
        }
    }

    #[test]
    fn an_outage_closes_the_gate_for_growing_spells_then_probes_with_one_request() {
        let mut gate = gate();
        let t0 = 1_000_000;
        assert_eq!(gate.allowance(t0), Allowance::Open);
        assert!(gate.observe(&down(), t0, 0.999));
        assert_eq!(gate.reason(), Some(PauseReason::EndpointDown));
        assert!(matches!(gate.allowance(t0), Allowance::Wait(w) if w <= Duration::from_secs(1)));
        let t1 = t0 + 1_000;
        assert_eq!(gate.allowance(t1), Allowance::Probe);
        assert!(!gate.observe(&down(), t1, 0.999), "still down is no change");
        assert!(
            matches!(gate.allowance(t1), Allowance::Wait(w) if w > Duration::from_millis(1500))
        );
        let t2 = t1 + 2_000;
        assert_eq!(gate.allowance(t2), Allowance::Probe);
        assert!(gate.observe(&Outcome::Delivered { status: 200 }, t2, 0.5));
        assert_eq!(gate.allowance(t2), Allowance::Open);
        assert_eq!(gate.reason(), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let mut gate = gate();
        let t0 = 1_000_000;
        gate.observe(
            &Outcome::SlowDown {
                status: 429,
                retry_after: Some(Duration::from_secs(30)),
            },
            t0,
            0.0,
        );
        assert_eq!(gate.allowance(t0), Allowance::Wait(Duration::from_secs(30)));
        gate.observe(
            &Outcome::SlowDown {
                status: 429,
                retry_after: Some(Duration::from_secs(86_400)),
            },
            t0,
            0.0,
        );
        assert_eq!(
            gate.allowance(t0),
            Allowance::Wait(Duration::from_secs(600))
        );
        assert_eq!(gate.reason(), Some(PauseReason::SlowDown));
    }

    #[test]
    fn a_success_sent_before_a_retry_after_does_not_cut_the_requested_pause_short() {
        let mut gate = gate();
        let t0 = 1_000_000;
        gate.observe(
            &Outcome::SlowDown {
                status: 429,
                retry_after: Some(Duration::from_secs(120)),
            },
            t0,
            0.0,
        );
        gate.observe(&Outcome::Delivered { status: 200 }, t0, 0.0);
        assert_eq!(
            gate.allowance(t0 + 119_000),
            Allowance::Wait(Duration::from_secs(1))
        );
        assert_eq!(gate.reason(), Some(PauseReason::SlowDown));
        assert_eq!(gate.allowance(t0 + 120_000), Allowance::Open);
    }

    #[test]
    fn a_success_to_a_request_sent_before_the_pause_neither_ends_it_nor_resets_its_backoff() {
        let mut gate = gate();
        let t0 = 1_000_000;
        gate.observe(&down(), t0, 0.999);
        gate.observe(&down(), t0 + 1_000, 0.999);
        let long = gate.allowance(t0 + 1_000);
        // A request sent before the first failure answers late, with success.
        assert!(!gate.observe_sent(&Outcome::Delivered { status: 200 }, t0 - 5, t0 + 1_001, 0.5));
        assert_eq!(gate.reason(), Some(PauseReason::EndpointDown));
        assert_eq!(
            gate.allowance(t0 + 1_000),
            long,
            "the pause and its backoff stand"
        );
        // A probe sent after the failure does end it.
        assert!(gate.observe_sent(
            &Outcome::Delivered { status: 200 },
            t0 + 5_000,
            t0 + 5_001,
            0.5
        ));
        assert_eq!(gate.allowance(t0 + 5_001), Allowance::Open);
    }

    #[test]
    fn a_suspect_rows_failure_while_everyone_else_gets_through_is_the_rows_fault() {
        let mut gate = gate();
        let t0 = 1_000_000;
        let waf = Outcome::Unauthorized { status: 403 };
        // First time: news about Target; it closes the gate, and its rows become suspects.
        assert_eq!(
            gate.judge(&waf, t0, t0, false, 0.5),
            Verdict::Observed { changed: true }
        );
        assert!(blamable(&waf));
        let timeout = Outcome::EndpointDown {
            status: None,
            reason: format!("{}: operation timed out", crate::adobe::TIMED_OUT),
        };
        assert!(!blamable(&timeout), "a timeout is never pinned on a row");
        // While the gate is closed or probing, a suspect's failure is still news about Target.
        let probe_at = t0 + 60_000;
        assert!(matches!(
            gate.judge(&waf, probe_at, probe_at, true, 0.5),
            Verdict::Observed { .. }
        ));
        // Another row's probe works: the gate opens.
        let later = probe_at + 120_000;
        gate.judge(
            &Outcome::Delivered { status: 200 },
            later,
            later,
            false,
            0.5,
        );
        assert_eq!(gate.allowance(later), Allowance::Open);
        // The suspect fails again while everyone else gets through: its own fault, no pause.
        assert_eq!(
            gate.judge(&waf, later, later + 1, true, 0.5),
            Verdict::RowsFault
        );
        assert_eq!(gate.allowance(later + 1), Allowance::Open);
        // A slow-down is never pinned on a row.
        let slow = Outcome::SlowDown {
            status: 429,
            retry_after: None,
        };
        assert!(matches!(
            gate.judge(&slow, later, later + 2, true, 0.5),
            Verdict::Observed { .. }
        ));
    }

    #[test]
    fn a_refused_token_pauses_but_a_refused_row_does_not() {
        let mut gate = gate();
        let t0 = 1_000_000;
        gate.observe(
            &Outcome::Rejected {
                status: 400,
                reason: "bad".into(),
            },
            t0,
            0.0,
        );
        assert_eq!(gate.allowance(t0), Allowance::Open);
        gate.observe(&Outcome::Unauthorized { status: 401 }, t0, 0.0);
        assert_eq!(gate.reason(), Some(PauseReason::Unauthorized));
        assert_eq!(
            gate.allowance(t0),
            Allowance::Wait(Duration::from_secs(30)),
            "half of max at the least"
        );
        assert_eq!(gate.circuit(t0), "open");
        gate.token_changed();
        assert_eq!(
            gate.allowance(t0),
            Allowance::Probe,
            "a new token is tried at once"
        );
        assert_eq!(gate.circuit(t0), "half_open");
    }
}
