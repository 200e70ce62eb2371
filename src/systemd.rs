//! Talks to systemd when it runs us as `Type=notify`: READY, STATUS, WATCHDOG and STOPPING
//! messages, sent by the `sd-notify` crate to the socket named by `NOTIFY_SOCKET` (systemd's is a
//! path, `/run/systemd/notify`), with the watchdog's interval read from `WATCHDOG_USEC` and
//! `WATCHDOG_PID`. Outside systemd (no such variable) every call does nothing, so the daemon
//! behaves the same either way. What this module adds is the daemon's use of the protocol: pings
//! at half the interval systemd allows, never more often, and a status that stays one line.

use sd_notify::NotifyState;
use std::fmt;
use std::time::{Duration, Instant};

/// A connection to systemd's notify socket, if there is one.
pub struct Notifier {
    channel: Channel,
    active: bool,
    watchdog_every: Option<Duration>,
    last_ping: Option<Instant>,
}

/// Where notifications go.
enum Channel {
    /// systemd's socket, through `sd-notify`.
    Systemd,
    /// A list the unit tests read, each message as it would be sent.
    #[cfg(test)]
    Recorded(std::sync::Arc<std::sync::Mutex<Vec<String>>>),
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, and `WATCHDOG_USEC` with `WATCHDOG_PID` (when set, it must name us).
    pub fn from_env() -> Notifier {
        let active = std::env::var_os("NOTIFY_SOCKET").is_some_and(|socket| !socket.is_empty());
        Notifier::new(Channel::Systemd, active, sd_notify::watchdog_enabled())
    }

    fn new(channel: Channel, active: bool, watchdog: Option<Duration>) -> Notifier {
        // Ping at half the interval systemd allows, as sd_watchdog_enabled(3) advises.
        let watchdog_every = watchdog.filter(|d| !d.is_zero()).map(|d| d / 2);
        Notifier {
            channel,
            active,
            watchdog_every,
            last_ping: None,
        }
    }

    /// A notifier whose messages go to the returned list, as if systemd listened (`active`) with
    /// a watchdog of `watchdog`.
    #[cfg(test)]
    pub(crate) fn recording(
        active: bool,
        watchdog: Option<Duration>,
    ) -> (Notifier, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let sent = std::sync::Arc::default();
        let channel = Channel::Recorded(std::sync::Arc::clone(&sent));
        (Notifier::new(channel, active, watchdog), sent)
    }

    pub fn ready(&self) {
        self.send(NotifyState::Ready);
    }

    pub fn stopping(&self) {
        self.send(NotifyState::Stopping);
    }

    /// One line for `systemctl status`.
    pub fn status(&self, line: &str) {
        let line: String = line.chars().filter(|c| *c != '\n').collect();
        self.send(NotifyState::Status(&line));
    }

    /// How often to ping the watchdog (half the interval systemd allows), if it is on.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// Tells the watchdog we are alive, at most every half interval. Called while the delivery
    /// loop's heartbeat is fresh (`daemon::watchdog`), so a stuck loop stops the pings and systemd
    /// restarts the service.
    pub fn alive(&mut self) {
        let Some(every) = self.watchdog_every else {
            return;
        };
        if self.last_ping.is_some_and(|last| last.elapsed() < every) {
            return;
        }
        self.last_ping = Some(Instant::now());
        self.send(NotifyState::Watchdog);
    }

    fn send(&self, message: NotifyState<'_>) {
        if !self.active {
            return;
        }
        let sent = match &self.channel {
            Channel::Systemd => sd_notify::notify(std::slice::from_ref(&message)),
            #[cfg(test)]
            Channel::Recorded(sent) => {
                if let Ok(mut sent) = sent.lock() {
                    sent.push(message.to_string());
                }
                Ok(())
            }
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, %message, "systemd did not take a notification");
        }
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("active", &self.active)
            .field("watchdog_every", &self.watchdog_every)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(list: &std::sync::Mutex<Vec<String>>) -> Vec<String> {
        list.lock().map(|l| l.clone()).unwrap_or_default()
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_fails() {
        let (mut notifier, list) = Notifier::recording(false, Some(Duration::from_secs(1)));
        assert!(!notifier.active);
        notifier.ready();
        notifier.alive();
        notifier.status("2 pending");
        notifier.stopping();
        assert_eq!(sent(&list), Vec::<String>::new());
    }

    #[test]
    fn messages_are_sent_in_order_and_watchdog_pings_are_spaced() {
        let (mut notifier, list) = Notifier::recording(true, Some(Duration::from_secs(60)));
        notifier.ready();
        notifier.alive();
        notifier.alive();
        notifier.status("2 pending");
        notifier.stopping();
        assert_eq!(
            sent(&list),
            ["READY=1", "WATCHDOG=1", "STATUS=2 pending", "STOPPING=1"]
        );
    }

    #[test]
    fn the_watchdog_is_pinged_at_half_its_interval_and_a_zero_interval_means_none() {
        let (notifier, _) = Notifier::recording(true, Some(Duration::from_secs(60)));
        assert_eq!(notifier.watchdog_every(), Some(Duration::from_secs(30)));
        let (mut notifier, list) = Notifier::recording(true, Some(Duration::ZERO));
        assert_eq!(notifier.watchdog_every(), None);
        notifier.alive();
        assert_eq!(sent(&list), Vec::<String>::new());
    }

    #[test]
    fn a_status_with_a_line_break_is_sent_as_one_line() {
        let (notifier, list) = Notifier::recording(true, None);
        notifier.status("2 pending\n, paused");
        assert_eq!(sent(&list), ["STATUS=2 pending, paused"]);
    }
}
