//! Log output: readable text by default, without timestamps under systemd (journald stamps every
//! line itself), or one JSON object per line.

use crate::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Starts logging to standard error. `RUST_LOG`, when set, overrides `log.level`. Calling it twice
/// (as tests may) leaves the first set-up in place.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _already_set = match (settings.format, under_journald) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
}
