//! The tests' clock: both readings, the wall clock and the boot clock, move only when a test moves
//! them, and a test can step the wall clock or reboot. Built only with the cargo feature
//! `test-hooks`, so the release binary has no clock but the host's.

use super::{Clock, millis};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A manual clock's readings.
#[derive(Debug)]
pub struct ManualTime {
    wall_ms: AtomicI64,
    boot_ms: AtomicI64,
    boot_id: Mutex<u64>,
}

impl ManualTime {
    pub(super) fn wall_ms(&self) -> i64 {
        self.wall_ms.load(Ordering::SeqCst)
    }

    pub(super) fn boot_ms(&self) -> i64 {
        self.boot_ms.load(Ordering::SeqCst)
    }

    pub(super) fn boot_id(&self) -> String {
        format!(
            "manual-boot-{}",
            self.boot_id.lock().map(|id| *id).unwrap_or(0)
        )
    }
}

impl Clock {
    /// A manual clock whose wall clock reads `wall_ms`, freshly booted.
    pub fn manual(wall_ms: i64) -> Clock {
        Clock::Manual(Arc::new(ManualTime {
            wall_ms: AtomicI64::new(wall_ms),
            boot_ms: AtomicI64::new(0),
            boot_id: Mutex::new(1),
        }))
    }

    /// Lets time pass on a manual clock: both readings move. The system clock ignores it.
    pub fn advance(&self, by: Duration) {
        self.advance_ms(millis(by));
    }

    /// [`Clock::advance`] in milliseconds.
    pub fn advance_ms(&self, delta_ms: i64) {
        if let Clock::Manual(t) = self {
            t.wall_ms.fetch_add(delta_ms, Ordering::SeqCst);
            t.boot_ms.fetch_add(delta_ms.max(0), Ordering::SeqCst);
        }
    }

    /// Steps a manual wall clock by `delta_ms` (either way) while no real time passes.
    pub fn step_wall_ms(&self, delta_ms: i64) {
        if let Clock::Manual(t) = self {
            t.wall_ms.fetch_add(delta_ms, Ordering::SeqCst);
        }
    }

    /// Reboots a manual clock: a new boot id, the boot clock back to zero.
    pub fn reboot(&self) {
        if let Clock::Manual(t) = self {
            if let Ok(mut id) = t.boot_id.lock() {
                *id += 1;
            }
            t.boot_ms.store(0, Ordering::SeqCst);
        }
    }
}
