//! The daemon's timeline: milliseconds that start at the wall clock's reading on the first run and
//! from then on advance only with real elapsed time, across restarts, crash loops and wall-clock
//! steps.
//!
//! Every time the daemon stores (retry times, quota buckets) is on this timeline. A wall clock
//! stepped a day forward therefore cannot age the quota ledger by a day, and one stepped back an
//! hour cannot leave rows waiting an extra hour. Within one boot, elapsed time comes from the boot
//! clock; across a reboot only the wall clock is left, and it is trusted only forwards.

use super::Clock;

/// Where the timeline stood at one moment, with the host's readings then. Saved in the database
/// so the next run can continue the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub timeline_ms: i64,
    pub wall_ms: i64,
    pub boot_id: String,
    pub boot_ms: i64,
}

/// A running timeline.
#[derive(Clone, Debug)]
pub struct Timeline {
    clock: Clock,
    origin_ms: i64,
    origin_boot_ms: i64,
    boot_id: String,
}

impl Timeline {
    /// Continues the timeline from `saved`, or starts it at the wall clock when there is none.
    pub fn resume(clock: Clock, saved: Option<&Anchor>) -> Timeline {
        let boot_id = clock.boot_id();
        let boot_ms = clock.boot_ms();
        let wall_ms = clock.wall_ms();
        let origin_ms = match saved {
            None => wall_ms,
            Some(anchor) if anchor.boot_id == boot_id => anchor
                .timeline_ms
                .saturating_add(boot_ms.saturating_sub(anchor.boot_ms).max(0)),
            Some(anchor) => anchor
                .timeline_ms
                .saturating_add(wall_ms.saturating_sub(anchor.wall_ms).max(0)),
        };
        Timeline {
            clock,
            origin_ms,
            origin_boot_ms: boot_ms,
            boot_id,
        }
    }

    /// Now, on the timeline.
    pub fn now_ms(&self) -> i64 {
        let elapsed = self
            .clock
            .boot_ms()
            .saturating_sub(self.origin_boot_ms)
            .max(0);
        self.origin_ms.saturating_add(elapsed)
    }

    /// Now, with the readings to save.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            timeline_ms: self.now_ms(),
            wall_ms: self.clock.wall_ms(),
            boot_id: self.boot_id.clone(),
            boot_ms: self.clock.boot_ms(),
        }
    }

    /// A timeline time as a wall-clock time, for people.
    pub fn to_wall_ms(&self, timeline_ms: i64) -> i64 {
        self.clock
            .wall_ms()
            .saturating_add(timeline_ms.saturating_sub(self.now_ms()))
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_timeline_follows_real_time_and_ignores_wall_clock_steps() {
        let clock = Clock::manual(1_000 * DAY);
        let timeline = Timeline::resume(clock.clone(), None);
        assert_eq!(timeline.now_ms(), 1_000 * DAY);
        clock.advance_ms(5_000);
        assert_eq!(timeline.now_ms(), 1_000 * DAY + 5_000);
        clock.step_wall_ms(DAY);
        assert_eq!(timeline.now_ms(), 1_000 * DAY + 5_000);
        clock.step_wall_ms(-2 * DAY);
        assert_eq!(timeline.now_ms(), 1_000 * DAY + 5_000);
    }

    #[test]
    fn a_restart_in_the_same_boot_continues_by_the_boot_clock() {
        let clock = Clock::manual(1_000 * DAY);
        let saved = Timeline::resume(clock.clone(), None).anchor();
        clock.advance_ms(60_000);
        clock.step_wall_ms(DAY);
        let resumed = Timeline::resume(clock.clone(), Some(&saved));
        assert_eq!(resumed.now_ms(), saved.timeline_ms + 60_000);
    }

    #[test]
    fn after_a_reboot_the_wall_clock_is_trusted_only_forwards() {
        let clock = Clock::manual(1_000 * DAY);
        let saved = Timeline::resume(clock.clone(), None).anchor();
        clock.reboot();
        clock.advance_ms(DAY);
        assert_eq!(
            Timeline::resume(clock.clone(), Some(&saved)).now_ms(),
            saved.timeline_ms + DAY
        );
        clock.reboot();
        clock.step_wall_ms(-10 * DAY);
        let resumed = Timeline::resume(clock.clone(), Some(&saved));
        assert_eq!(
            resumed.now_ms(),
            saved.timeline_ms,
            "a wall clock behind the anchor adds nothing"
        );
    }
}
