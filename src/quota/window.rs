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

/// Where calls reserved at `now_ms` are booked, and until when they may be sent: the bucket after
/// `now_ms`'s, so a call sent any time before that bucket ends is counted in a bucket no earlier
/// than its own minute, and so for at least 24 hours after it was sent. A call not sent by then
/// is not sent on that booking.
pub fn booking(now_ms: i64) -> (i64, i64) {
    let bucket = bucket_of(now_ms) + 1;
    (bucket, (bucket + 1) * BUCKET_MS)
}

/// When at least one call will be free again, given the buckets in the window (oldest first,
/// with their calls) and the limit. `None` when a call is free now.
pub fn next_free_at(buckets: &[(i64, i64)], limit: i64) -> Option<i64> {
    free_at(buckets, limit, 1)
}

/// When at least `needed` calls will be free, given the buckets in the window (oldest first, with
/// their calls) and the limit. `None` when they are free now, and also when they never can be
/// (`needed` past the limit): callers check that first.
pub fn free_at(buckets: &[(i64, i64)], limit: i64, needed: i64) -> Option<i64> {
    let mut used: i64 = buckets.iter().map(|(_, calls)| calls).sum();
    if used + needed <= limit || needed > limit {
        return None;
    }
    for (bucket, calls) in buckets {
        used -= calls;
        if used + needed <= limit {
            return Some(leaves_window_at(*bucket));
        }
    }
    // Unreachable with needed <= limit: once every bucket has left, nothing is used.
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

    #[test]
    fn needing_several_calls_waits_for_enough_old_buckets_to_leave() {
        let buckets = [(10, 3), (20, 5), (30, 2)];
        assert_eq!(free_at(&buckets, 12, 2), None);
        assert_eq!(free_at(&buckets, 12, 3), Some(leaves_window_at(10)));
        assert_eq!(free_at(&buckets, 10, 6), Some(leaves_window_at(20)));
        assert_eq!(free_at(&buckets, 10, 11), None, "never: past the limit");
    }

    #[test]
    fn a_call_sent_late_in_its_booking_is_still_counted_for_24_hours() {
        for now in [0, 1, 59_999, 60_000, 1_234_567] {
            let (bucket, send_by) = booking(now);
            assert!(send_by >= now + BUCKET_MS, "at least a minute to send");
            // The latest moment a call may go out on this booking.
            let sent = send_by - 1;
            assert!(bucket >= bucket_of(sent));
            assert!(leaves_window_at(bucket) >= sent + DAY);
        }
    }

    /// Calls granted at `now` and sent at `now + delays[i]`, at most at `send_by`; the ledger
    /// books them in `book(now)`. Returns the send times.
    fn spend(steps: &[(i64, i64, i64)], limit: i64, book: impl Fn(i64) -> (i64, i64)) -> Vec<i64> {
        let mut now = 0i64;
        let mut ledger: std::collections::BTreeMap<i64, i64> = Default::default();
        let mut calls: Vec<i64> = Vec::new();
        for &(gap, want, delay) in steps {
            now += gap;
            let first = first_bucket_in_window(now);
            let used: i64 = ledger.range(first..).map(|(_, c)| c).sum();
            let granted = want.min(limit - used).max(0);
            let (bucket, send_by) = book(now);
            *ledger.entry(bucket).or_default() += granted;
            let sent = (now + delay).min(send_by - 1);
            calls.extend(std::iter::repeat_n(
                sent,
                usize::try_from(granted).unwrap_or(0),
            ));
        }
        calls.sort_unstable();
        calls
    }

    fn most_in_any_day(calls: &[i64]) -> i64 {
        let mut most = 0;
        for (i, start) in calls.iter().enumerate() {
            let in_span = calls[i..].iter().take_while(|t| **t < start + DAY).count();
            most = most.max(i64::try_from(in_span).unwrap_or(i64::MAX));
        }
        most
    }

    #[test]
    fn booking_in_the_minute_a_round_starts_lets_late_calls_pass_the_limit() {
        // What the ledger did before: booked in the round's own minute, sent up to a minute later.
        // Two rounds a day apart, the first sending late: 2 calls in 24 hours with a limit of 1.
        let steps = [(59_000, 1, 50_000), (DAY + 1_000, 1, 0)];
        let round_minute = |now: i64| (bucket_of(now), now + BUCKET_MS);
        assert_eq!(most_in_any_day(&spend(&steps, 1, round_minute)), 2);
        assert_eq!(most_in_any_day(&spend(&steps, 1, booking)), 1);
    }

    proptest! {
        /// Spending greedily whatever the bucket arithmetic allows, at random moments, each call
        /// sent at any moment its booking allows, never puts more than `limit` calls in any real
        /// 24-hour span.
        #[test]
        fn greedy_spending_never_passes_the_limit_in_any_24_hours(
            steps in proptest::collection::vec(
                (0i64..3 * 3_600_000, 0i64..50, 0i64..2 * BUCKET_MS), 1..200),
            limit in 1i64..100,
        ) {
            let calls = spend(&steps, limit, booking);
            let most = most_in_any_day(&calls);
            prop_assert!(most <= limit, "{most} calls in 24h with a limit of {limit}");
        }
    }
}
