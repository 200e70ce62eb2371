//! The host's clocks: the wall clock, which people (and NTP, and mistakes) can step, and the boot
//! clock (`CLOCK_BOOTTIME`), which counts real time since boot and cannot be stepped. Tests use a
//! manual clock whose two readings they move themselves (`manual`, built only with the cargo
//! feature `test-hooks`, so the release binary reads the host's clocks and nothing else).

#[cfg(feature = "test-hooks")]
use super::manual::ManualTime;
#[cfg(feature = "test-hooks")]
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where readings come from.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    #[cfg(feature = "test-hooks")]
    Manual(Arc<ManualTime>),
}

/// Used when the boot clock cannot be read: readings then fall back to the wall clock, and a
/// restart trusts the wall clock (never going backwards).
const NO_BOOT_CLOCK: &str = "no-boot-clock";

impl Clock {
    /// Wall-clock milliseconds since the Unix epoch.
    pub fn wall_ms(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(millis)
                // A clock set before 1970 is a broken host; read it as the epoch rather than panic.
                .unwrap_or(0)
                .saturating_add(test_wall_offset_ms()),
            #[cfg(feature = "test-hooks")]
            Clock::Manual(t) => t.wall_ms(),
        }
    }

    /// Milliseconds of real time since this boot.
    pub fn boot_ms(&self) -> i64 {
        match self {
            Clock::System => nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
                .map(|t| t.tv_sec() * 1000 + t.tv_nsec() / 1_000_000)
                .unwrap_or_else(|_| self.wall_ms()),
            #[cfg(feature = "test-hooks")]
            Clock::Manual(t) => t.boot_ms(),
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
            #[cfg(feature = "test-hooks")]
            Clock::Manual(t) => t.boot_id(),
        }
    }
}

/// The fault suite's seam for a host whose wall clock is wrong by hours: with the `test-hooks`
/// feature only (never in the release binary), `PROFILE_OUTBOX_TEST_WALL_OFFSET_MS` moves this
/// process's wall clock that far from the host's. The boot clock is left alone.
#[cfg(feature = "test-hooks")]
pub const WALL_OFFSET_ENV: &str = "PROFILE_OUTBOX_TEST_WALL_OFFSET_MS";

#[cfg(feature = "test-hooks")]
fn test_wall_offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(WALL_OFFSET_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

#[cfg(not(feature = "test-hooks"))]
fn test_wall_offset_ms() -> i64 {
    0
}

/// A duration in whole milliseconds, saturating rather than wrapping for absurd values.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
