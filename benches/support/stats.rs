//! Medians and percentiles over a handful of runs or a thousand samples.

/// The median (the upper middle value for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// The nearest-rank percentile `p` (0 to 100); NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Values listed for the log line, e.g. "[12.1, 12.4, 13.0]".
pub fn list(values: &[f64], decimals: usize) -> String {
    let shown: Vec<String> = values.iter().map(|v| format!("{v:.decimals$}")).collect();
    format!("[{}]", shown.join(", "))
}
