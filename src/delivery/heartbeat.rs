//! The delivery loop's sign of life, for systemd's watchdog. The loop beats at every step that
//! shows it moving: each wake from a pause, each round's start, each answer from Target, each
//! recorded batch. A watchdog task pings systemd only while the last beat is recent, so a loop
//! stuck on a lock or a hung await stops the pings, while a loop waiting for slow answers, for
//! the quota or for Target to come back keeps them going.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the loop last showed it was moving.
#[derive(Debug)]
pub struct Heartbeat {
    started: Instant,
    /// Milliseconds from `started` to the last beat.
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long ago the last beat was.
    pub fn age(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Whether the loop beat within `within`.
    pub fn is_fresh(&self, within: Duration) -> bool {
        self.age() < within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_makes_the_heart_fresh_and_silence_makes_it_stale() {
        let heart = Heartbeat::default();
        std::thread::sleep(Duration::from_millis(30));
        assert!(!heart.is_fresh(Duration::from_millis(20)));
        heart.beat();
        assert!(heart.is_fresh(Duration::from_secs(5)));
    }
}
