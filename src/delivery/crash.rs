//! A test seam for the fault suite: stops the process abruptly at a named point of a batch, so a
//! test can prove that a crash exactly there loses nothing. It is set only by the environment
//! variable `PROFILE_OUTBOX_TEST_CRASH_AT=point[:n]` (crash the n-th time the point is reached,
//! the first by default), never from the configuration, and does nothing when unset.
//!
//! The seam is built only with the cargo feature `test-hooks`, which the tests turn on and the
//! release build does not: without it no plan can exist, the variable is never read, and neither
//! its name nor the abort is in the binary.

#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable the seam reads.
#[cfg(feature = "test-hooks")]
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

#[cfg(feature = "test-hooks")]
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
#[cfg(feature = "test-hooks")]
#[derive(Debug)]
pub struct CrashPlan {
    point: CrashPoint,
    passes_left: AtomicU32,
}

#[cfg(feature = "test-hooks")]
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

/// Without the `test-hooks` feature a plan has no value, so every `Option<CrashPlan>` is `None`
/// and the check at each point compiles to nothing.
#[cfg(not(feature = "test-hooks"))]
#[derive(Debug)]
pub enum CrashPlan {}

#[cfg(not(feature = "test-hooks"))]
impl CrashPlan {
    /// No plan: the release binary never reads the variable.
    pub fn from_env() -> Option<CrashPlan> {
        None
    }

    /// Never called: no plan exists to call it on.
    pub fn reached(&self, _point: CrashPoint) {
        match *self {}
    }
}
