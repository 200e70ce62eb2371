//! Log output: readable text by default, or one JSON object per line. Under journald (standard
//! error is the stream `JOURNAL_STREAM` names) every line starts with its syslog priority in
//! systemd's `<N>` form, so `journalctl -p err` finds errors, and text lines carry no timestamp
//! (journald stamps every line itself) and no leading padding.

use crate::config::{LogFormat, LogSettings};
use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Where lines go and how they look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A terminal or a file: timestamps, no priority prefix.
    Plain,
    /// journald's stream: a `<N>` priority prefix, no timestamp.
    Journald,
}

/// Starts logging to standard error. `RUST_LOG`, when set, overrides `log.level`. Calling it twice
/// (as tests may) leaves the first set-up in place.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let destination = if stderr_is_journal_stream() {
        Destination::Journald
    } else {
        Destination::Plain
    };
    let ansi =
        destination == Destination::Plain && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _already_set =
        build(settings.format, destination, filter, std::io::stderr, ansi).try_init();
}

/// The subscriber `init` installs, writing to `writer`.
pub fn build<W>(
    format: LogFormat,
    destination: Destination,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match (format, destination) {
        (LogFormat::Json, Destination::Plain) => Box::new(builder.json().finish()),
        (LogFormat::Json, Destination::Journald) => Box::new(
            builder
                .json()
                .map_event_format(|inner| Prioritized {
                    inner,
                    level_word: false,
                })
                .finish(),
        ),
        (LogFormat::Text, Destination::Plain) => Box::new(builder.finish()),
        (LogFormat::Text, Destination::Journald) => Box::new(
            builder
                .without_time()
                .with_level(false)
                .map_event_format(|inner| Prioritized {
                    inner,
                    level_word: true,
                })
                .finish(),
        ),
    }
}

/// Puts `<N>` (and for text, the level's name) before what `inner` writes.
struct Prioritized<F> {
    inner: F,
    level_word: bool,
}

impl<S, N, F> FormatEvent<S, N> for Prioritized<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = event.metadata().level();
        write!(writer, "<{}>", priority(level))?;
        if self.level_word {
            write!(writer, "{level} ")?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}

/// syslog's priority for a level: err 3, warning 4, info 6, debug 7.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// systemd sets `JOURNAL_STREAM=device:inode` for a service whose output goes to journald. It is
/// inherited by children whose standard error goes elsewhere, so the stream must be this one.
fn stderr_is_journal_stream() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from);
    let Ok(metadata) = stderr.and_then(|file| file.metadata()) else {
        return false;
    };
    device.parse() == Ok(metadata.dev()) && inode.parse() == Ok(metadata.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Lines written by a subscriber built as `init` builds it.
    fn lines(format: LogFormat, destination: Destination) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let writer = move || Sink(sink.clone());
        let subscriber = build(format, destination, EnvFilter::new("debug"), writer, false);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(status = 401, "Target refuses the token");
            tracing::warn!("slow down");
            tracing::info!("delivered");
            tracing::debug!("claimed");
        });
        let text = buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(data);
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn under_journald_text_lines_start_with_their_priority_and_never_with_a_space() {
        let lines = lines(LogFormat::Text, Destination::Journald);
        let starts: Vec<&str> = lines.iter().map(|l| &l[..l.len().min(9)]).collect();
        assert_eq!(
            starts,
            ["<3>ERROR ", "<4>WARN p", "<6>INFO p", "<7>DEBUG "],
            "{lines:?}"
        );
        assert!(lines[0].contains("Target refuses the token") && lines[0].contains("status=401"));
    }

    #[test]
    fn under_journald_json_lines_carry_their_priority_and_elsewhere_nothing_is_added() {
        let journald = lines(LogFormat::Json, Destination::Journald);
        assert!(journald[0].starts_with("<3>{"), "{journald:?}");
        assert!(journald[1].starts_with("<4>{"), "{journald:?}");
        let plain = lines(LogFormat::Json, Destination::Plain);
        assert!(plain.iter().all(|l| l.starts_with('{')), "{plain:?}");
    }
}
