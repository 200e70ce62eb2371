//! A test seam for the fault suite: stops the process abruptly at a named point of a batch, so a
//! test can prove that a crash exactly there loses nothing. It is set only by the environment
//! variable `PROFILE_OUTBOX_TEST_CRASH_AT=point[:n]` (crash the n-th time the point is reached,
//! the first by default), never from the configuration, and does nothing when unset.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable the seam reads.
pub const CRASH_ENV: &str = "PROFILE_OUTBOX_TEST_CRASH_AT";

/// Where in a batch the process can be stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// Rows are claimed (`in_flight`), nothing is sent yet.
    AfterClaim,
    /// The first request of the batch has its answer; others may still be in flight.
    AfterSend,
    /// Every request is answered; the outcomes are not recorded yet.
    BeforeRecord,
}

impl CrashPoint {
    fn parse(name: &str) -> Option<CrashPoint> {
        match name {
            "after_claim" => Some(CrashPoint::AfterClaim),
            "after_send" => Some(CrashPoint::AfterSend),
            "before_record" => Some(CrashPoint::BeforeRecord),
            _ => None,
        }
    }
}

/// Which point to crash at, and after how many passes.
#[derive(Debug)]
pub struct CrashPlan {
    point: CrashPoint,
    passes_left: AtomicU32,
}

impl CrashPlan {
    /// Reads the plan from the environment; `None` when the variable is unset or unreadable.
    pub fn from_env() -> Option<CrashPlan> {
        let value = std::env::var(CRASH_ENV).ok()?;
        let (name, count) = value.split_once(':').unwrap_or((value.as_str(), "1"));
        let plan = CrashPlan {
            point: CrashPoint::parse(name)?,
            passes_left: AtomicU32::new(count.parse().ok()?),
        };
        tracing::warn!(
            point = name,
            pass = count,
            "test seam: this process will crash on purpose"
        );
        Some(plan)
    }

    /// Aborts the process if this is the planned point and pass.
    pub fn reached(&self, point: CrashPoint) {
        if point == self.point && self.passes_left.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Like a crash: no destructors, no flush, no recording.
            std::process::abort();
        }
    }
}
