//! Times for people. The daemon stores retry times and quota buckets on its timeline (see
//! `clock::timeline`), which can drift from the wall clock; the admin commands turn them into
//! wall-clock times the way the daemon would, from the anchor it saved in `daemon_state`.

use crate::clock::{Anchor, Clock, Timeline};

/// Now, on the timeline and on the wall clock, and the way from one to the other.
#[derive(Clone, Debug)]
pub struct TimeFrame {
    timeline: Timeline,
    /// While a daemon runs: the anchor it saved last (every second or so), so a time converts
    /// exactly as the daemon converted it when it wrote `daemon_state`.
    live: Option<Anchor>,
}

impl TimeFrame {
    /// With no saved anchor (no daemon ever ran here), the timeline is the wall clock. With one and
    /// no daemon running, the timeline continues exactly as the next `run` would continue it.
    pub fn new(clock: Clock, saved: Option<&Anchor>, daemon_running: bool) -> TimeFrame {
        TimeFrame {
            timeline: Timeline::resume(clock, saved),
            live: saved.filter(|_| daemon_running).cloned(),
        }
    }

    /// Now, on the timeline: compare `next_attempt_at` and quota buckets with this.
    pub fn now_ms(&self) -> i64 {
        self.timeline.now_ms()
    }

    /// Now, on the wall clock: compare `created_at` and `daemon_state`'s `*_at` columns with this.
    pub fn wall_now_ms(&self) -> i64 {
        self.timeline.clock().wall_ms()
    }

    /// A timeline time as a wall-clock time.
    pub fn to_wall_ms(&self, timeline_ms: i64) -> i64 {
        match &self.live {
            Some(anchor) => anchor
                .wall_ms
                .saturating_add(timeline_ms.saturating_sub(anchor.timeline_ms)),
            None => self.timeline.to_wall_ms(timeline_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn anchor(timeline_ms: i64, wall_ms: i64) -> Anchor {
        Anchor {
            timeline_ms,
            wall_ms,
            boot_id: "another-boot".into(),
            boot_ms: 0,
        }
    }

    #[test]
    fn without_a_saved_anchor_the_timeline_is_the_wall_clock() {
        let frame = TimeFrame::new(Clock::manual(1_000 * DAY), None, false);
        assert_eq!(frame.now_ms(), 1_000 * DAY);
        assert_eq!(frame.to_wall_ms(1_000 * DAY + 5_000), 1_000 * DAY + 5_000);
    }

    #[test]
    fn a_running_daemon_s_anchor_converts_its_times() {
        // The daemon's timeline runs a day behind the wall clock (the clock was stepped forward).
        let saved = anchor(999 * DAY, 1_000 * DAY);
        let frame = TimeFrame::new(Clock::manual(1_000 * DAY + 2_000), Some(&saved), true);
        assert_eq!(frame.to_wall_ms(999 * DAY + 60_000), 1_000 * DAY + 60_000);
    }

    #[test]
    fn with_no_daemon_running_the_timeline_continues_as_the_next_run_would() {
        let saved = anchor(999 * DAY, 1_000 * DAY);
        let frame = TimeFrame::new(Clock::manual(1_000 * DAY + 7_000), Some(&saved), false);
        assert_eq!(frame.now_ms(), 999 * DAY + 7_000);
        assert_eq!(
            frame.to_wall_ms(999 * DAY + 60_000),
            1_000 * DAY + 60_000,
            "a retry a minute after the anchor is a minute after the anchor's wall time"
        );
    }
}
