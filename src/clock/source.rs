//! The host's clocks: the wall clock, which people (and NTP, and mistakes) can step, and the boot
//! clock (`CLOCK_BOOTTIME`), which counts real time since boot and cannot be stepped. Tests use a
//! manual clock whose two readings they move themselves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where readings come from.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Manual(Arc<ManualTime>),
}

/// A test's clock.
#[derive(Debug)]
pub struct ManualTime {
    wall_ms: AtomicI64,
    boot_ms: AtomicI64,
    boot_id: Mutex<u64>,
}

/// Used when the boot clock cannot be read: readings then fall back to the wall clock, and a
/// restart trusts the wall clock (never going backwards).
const NO_BOOT_CLOCK: &str = "no-boot-clock";

impl Clock {
    /// A manual clock whose wall clock reads `wall_ms`, freshly booted.
    pub fn manual(wall_ms: i64) -> Clock {
        Clock::Manual(Arc::new(ManualTime {
            wall_ms: AtomicI64::new(wall_ms),
            boot_ms: AtomicI64::new(0),
            boot_id: Mutex::new(1),
        }))
    }

    /// Wall-clock milliseconds since the Unix epoch.
    pub fn wall_ms(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(millis)
                // A clock set before 1970 is a broken host; read it as the epoch rather than panic.
                .unwrap_or(0)
                .saturating_add(test_wall_offset_ms()),
            Clock::Manual(t) => t.wall_ms.load(Ordering::SeqCst),
        }
    }

    /// Milliseconds of real time since this boot.
    pub fn boot_ms(&self) -> i64 {
        match self {
            Clock::System => nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
                .map(|t| t.tv_sec() * 1000 + t.tv_nsec() / 1_000_000)
                .unwrap_or_else(|_| self.wall_ms()),
            Clock::Manual(t) => t.boot_ms.load(Ordering::SeqCst),
        }
    }

    /// Which boot the boot clock counts from.
    pub fn boot_id(&self) -> String {
        match self {
            Clock::System => {
                let boot_clock =
                    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).is_ok();
                match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
                    Ok(id) if boot_clock && !id.trim().is_empty() => id.trim().to_owned(),
                    _ => NO_BOOT_CLOCK.to_owned(),
                }
            }
            Clock::Manual(t) => format!(
                "manual-boot-{}",
                t.boot_id.lock().map(|id| *id).unwrap_or(0)
            ),
        }
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

/// The fault suite's seam for a host whose wall clock is wrong by hours: with the `simulation`
/// feature only (never in the release binary), `PROFILE_OUTBOX_TEST_WALL_OFFSET_MS` moves this
/// process's wall clock that far from the host's. The boot clock is left alone.
pub const WALL_OFFSET_ENV: &str = "PROFILE_OUTBOX_TEST_WALL_OFFSET_MS";

#[cfg(feature = "simulation")]
fn test_wall_offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(WALL_OFFSET_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

#[cfg(not(feature = "simulation"))]
fn test_wall_offset_ms() -> i64 {
    0
}

/// A duration in whole milliseconds, saturating rather than wrapping for absurd values.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
