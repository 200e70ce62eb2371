//! Wall-clock time for everything the daemon writes: claim times, retry times, outcome times.
//!
//! Times are milliseconds since the Unix epoch, the unit of every time column in the outbox. Tests
//! use a manual clock so that retry schedules can be stepped through without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the current time comes from.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The host's wall clock.
    System,
    /// A time that moves only when a test moves it.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start_ms`.
    pub fn manual(start_ms: i64) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(millis)
                // A clock set before 1970 is a broken host; treat it as the epoch rather than panic.
                .unwrap_or(0),
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward (or back, with a negative step). The system clock ignores it.
    pub fn step_ms(&self, delta_ms: i64) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(delta_ms, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.step_ms(millis(by));
    }
}

/// A duration in whole milliseconds, saturating rather than wrapping for absurd values.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
