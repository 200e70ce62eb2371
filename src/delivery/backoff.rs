//! Exponential backoff with jitter, as a pure function of the try number and a random draw.

use std::time::Duration;

/// The wait before try `attempt + 1`, after `attempt` failed tries (1 or more): `initial`, doubled
/// for each further failure, capped at `max`, then scaled into its upper half by `jitter` (a number
/// in `[0, 1)`), so that rows and daemons failing together do not retry together.
pub fn backoff(initial: Duration, max: Duration, attempt: u32, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let full = initial.saturating_mul(1 << doublings).min(max);
    let jitter = jitter.clamp(0.0, 1.0);
    full.mul_f64(0.5 + jitter / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_wait_doubles_until_the_cap() {
        let max = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=11)
            .map(|n| backoff(S, max, n, 1.0).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(S, max, 3, 0.0), Duration::from_secs(2));
    }

    proptest! {
        #[test]
        fn the_wait_stays_between_half_the_step_and_the_cap(
            attempt in 0u32..1000, jitter in 0.0f64..1.0, initial_ms in 1u64..10_000, max_ms in 1u64..10_000_000,
        ) {
            let initial = Duration::from_millis(initial_ms);
            let max = Duration::from_millis(max_ms);
            let wait = backoff(initial, max, attempt, jitter);
            prop_assert!(wait <= max);
            prop_assert!(wait >= initial.min(max) / 2);
        }
    }
}
