//! The arithmetic of the rolling window, as pure functions.
//!
//! Calls are counted in one-minute buckets of the daemon's timeline. A call stays counted until the
//! end of the minute 24 hours after its own minute, so it never leaves the count before 24 real
//! hours have passed: the ledger errs on the side of spending less, by at most a minute's worth.

/// One bucket: a minute of the timeline.
pub const BUCKET_MS: i64 = 60_000;
/// Buckets in 24 hours.
pub const WINDOW_BUCKETS: i64 = 1_440;

/// The bucket a timeline time falls in.
pub fn bucket_of(timeline_ms: i64) -> i64 {
    timeline_ms.div_euclid(BUCKET_MS)
}

/// The oldest bucket still inside the window at `now_ms`. Every later bucket counts too,
/// including any "in the future" (there only if the timeline was ever ahead, which it is not
/// designed to be; counting them is the safe reading).
pub fn first_bucket_in_window(now_ms: i64) -> i64 {
    bucket_of(now_ms) - WINDOW_BUCKETS
}

/// When the calls of `bucket` stop counting.
pub fn leaves_window_at(bucket: i64) -> i64 {
    (bucket + WINDOW_BUCKETS + 1) * BUCKET_MS
}

/// When at least one call will be free again, given the buckets in the window (oldest first,
/// with their calls) and the limit. `None` when a call is free now.
pub fn next_free_at(buckets: &[(i64, i64)], limit: i64) -> Option<i64> {
    let mut used: i64 = buckets.iter().map(|(_, calls)| calls).sum();
    if used < limit {
        return None;
    }
    for (bucket, calls) in buckets {
        used -= calls;
        if used < limit {
            return Some(leaves_window_at(*bucket));
        }
    }
    // Unreachable with a positive limit: once every bucket has left, nothing is used.
    buckets.last().map(|(bucket, _)| leaves_window_at(*bucket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_call_leaves_the_window_no_sooner_than_24_hours_after_it_was_made() {
        for made_at in [0, 1, 59_999, 60_000, 1_234_567] {
            let bucket = bucket_of(made_at);
            assert!(leaves_window_at(bucket) >= made_at + DAY);
            assert!(leaves_window_at(bucket) <= made_at + DAY + 2 * BUCKET_MS);
            // Still counted just before it leaves, gone at that moment.
            assert!(first_bucket_in_window(leaves_window_at(bucket) - 1) <= bucket);
            assert!(first_bucket_in_window(leaves_window_at(bucket)) > bucket);
        }
    }

    #[test]
    fn the_next_free_call_comes_when_enough_old_buckets_leave() {
        let buckets = [(10, 3), (20, 5), (30, 2)];
        assert_eq!(next_free_at(&buckets, 11), None);
        assert_eq!(next_free_at(&buckets, 10), Some(leaves_window_at(10)));
        assert_eq!(next_free_at(&buckets, 5), Some(leaves_window_at(20)));
        assert_eq!(next_free_at(&buckets, 1), Some(leaves_window_at(30)));
    }

    proptest! {
        /// Spending greedily whatever the bucket arithmetic allows, at random moments, never puts
        /// more than `limit` calls in any real 24-hour span.
        #[test]
        fn greedy_spending_never_passes_the_limit_in_any_24_hours(
            steps in proptest::collection::vec((0i64..3 * 3_600_000, 0i64..50), 1..200),
            limit in 1i64..100,
        ) {
            let mut now = 0i64;
            let mut ledger: std::collections::BTreeMap<i64, i64> = Default::default();
            let mut calls: Vec<i64> = Vec::new();
            for (gap, want) in steps {
                now += gap;
                let first = first_bucket_in_window(now);
                let used: i64 = ledger.range(first..).map(|(_, c)| c).sum();
                let granted = want.min(limit - used).max(0);
                *ledger.entry(bucket_of(now)).or_default() += granted;
                calls.extend(std::iter::repeat_n(now, usize::try_from(granted).unwrap_or(0)));
            }
            for (i, start) in calls.iter().enumerate() {
                let in_span = calls[i..].iter().take_while(|t| **t < start + DAY).count();
                prop_assert!(in_span as i64 <= limit, "{in_span} calls in 24h from {start}");
            }
        }
    }
}
