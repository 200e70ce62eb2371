//! Times and counts in plain words, for everything people read: the admin commands' output,
//! the explanations and warnings they give, systemd's status line and the quota pool's view.
//! `2026-11-28 14:05:07Z`, `3m ago`, `in 2m`, `1 row`, `2 rows`.

use std::time::{Duration, UNIX_EPOCH};

/// A wall-clock time as `2026-11-28 14:05:07Z` (UTC).
pub fn clock_time(wall_ms: i64) -> String {
    rfc3339(wall_ms).replacen('T', " ", 1)
}

/// A wall-clock time as RFC 3339, `2026-11-28T14:05:07Z`, for JSON.
pub fn rfc3339(wall_ms: i64) -> String {
    let ms = u64::try_from(wall_ms).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A span as people say it, to the nearest second, in its largest unit and the next one when
/// that is not zero: `45s`, `1m 30s`, `2m`, `2h 5m`, `3d 4h`. Rounded, not cut, so a 120 s pause
/// read a moment later is still `2m`, never `1m`.
pub fn age(span_ms: i64) -> String {
    let s = span_ms.unsigned_abs().saturating_add(500) / 1000;
    let units = [
        (s / 86_400, "d"),
        (s / 3600 % 24, "h"),
        (s / 60 % 60, "m"),
        (s % 60, "s"),
    ];
    let Some(first) = units.iter().position(|(n, _)| *n > 0) else {
        return "0s".into();
    };
    let (n, unit) = units[first];
    match units.get(first + 1) {
        Some((next, next_unit)) if *next > 0 => format!("{n}{unit} {next}{next_unit}"),
        _ => format!("{n}{unit}"),
    }
}

/// `3m ago` or `in 3m`, from `now_ms` to `wall_ms`.
pub fn relative(wall_ms: i64, now_ms: i64) -> String {
    let span = wall_ms.saturating_sub(now_ms);
    if span.abs() < 1000 {
        "now".into()
    } else if span < 0 {
        format!("{} ago", age(span))
    } else {
        format!("in {}", age(span))
    }
}

/// `1 row`, `2 rows`: a count and its noun, plural but for one.
pub fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2026-11-28 14:05:07Z (3m ago)`.
pub fn when(wall_ms: i64, now_ms: i64) -> String {
    format!("{} ({})", clock_time(wall_ms), relative(wall_ms, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_with_seconds() {
        assert_eq!(clock_time(1_795_874_707_000), "2026-11-28 14:05:07Z");
        assert_eq!(rfc3339(1_795_874_707_999), "2026-11-28T14:05:07Z");
    }

    #[test]
    fn spans_read_in_at_most_two_units() {
        assert_eq!(age(45_000), "45s");
        assert_eq!(age(-180_000), "3m");
        assert_eq!(age(7_500_000), "2h 5m");
        assert_eq!(age(7_200_000), "2h");
        assert_eq!(age(3 * 86_400_000 + 4 * 3_600_000 + 60_000), "3d 4h");
        assert_eq!(relative(1_000, 181_000), "3m ago");
        assert_eq!(relative(181_000, 1_000), "in 3m");
        assert_eq!(relative(1_000, 1_500), "now");
    }

    #[test]
    fn spans_keep_seconds_as_the_second_unit_and_round_to_the_nearest_second() {
        assert_eq!(age(90_000), "1m 30s");
        assert_eq!(age(120_000), "2m");
        assert_eq!(age(119_600), "2m", "a 120 s pause read 0.4 s later");
        assert_eq!(age(3_600_000 + 59_000), "1h");
        assert_eq!(age(86_400_000 + 60_000), "1d");
        assert_eq!(relative(120_000, 400), "in 2m");
    }
}
