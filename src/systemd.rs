//! Talks to systemd when it runs us as `Type=notify`: READY, STATUS, WATCHDOG and STOPPING messages
//! over the datagram socket named by `NOTIFY_SOCKET`. Outside systemd (no such variable) every call
//! does nothing, so the daemon behaves the same either way.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A connection to systemd's notify socket, if there is one.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketName)>,
    watchdog_every: Option<Duration>,
    last_ping: Option<Instant>,
}

#[derive(Debug)]
enum SocketName {
    Path(PathBuf),
    /// A socket in the abstract namespace (`@name`).
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (with `WATCHDOG_PID`, when set, naming us).
    pub fn from_env() -> Notifier {
        Notifier::from_values(
            std::env::var_os("NOTIFY_SOCKET").map(|v| v.to_string_lossy().into_owned()),
            std::env::var("WATCHDOG_USEC").ok(),
            std::env::var("WATCHDOG_PID").ok(),
        )
    }

    pub(crate) fn from_values(
        socket: Option<String>,
        watchdog_usec: Option<String>,
        watchdog_pid: Option<String>,
    ) -> Notifier {
        let name = socket
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('@') {
                Some(name) => SocketName::Abstract(name.as_bytes().to_vec()),
                None => SocketName::Path(PathBuf::from(s)),
            });
        let socket = name.and_then(|name| match UnixDatagram::unbound() {
            Ok(socket) => Some((socket, name)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a socket to talk to systemd");
                None
            }
        });
        let for_us = watchdog_pid.is_none_or(|pid| pid.trim() == std::process::id().to_string());
        // Ping at half the interval systemd allows, as sd_watchdog_enabled(3) advises.
        let watchdog_every = watchdog_usec
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(|usec| Duration::from_micros(usec / 2));
        Notifier {
            socket,
            watchdog_every,
            last_ping: None,
        }
    }

    /// Whether systemd is listening.
    pub fn is_active(&self) -> bool {
        self.socket.is_some()
    }

    pub fn ready(&self) {
        self.send("READY=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// One line for `systemctl status`.
    pub fn status(&self, line: &str) {
        let line: String = line.chars().filter(|c| *c != '\n').collect();
        self.send(&format!("STATUS={line}"));
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
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some((socket, name)) = &self.socket else {
            return;
        };
        let sent = match name {
            SocketName::Path(path) => socket.send_to(message.as_bytes(), path),
            SocketName::Abstract(name) => send_abstract(socket, name, message),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, message, "systemd did not take a notification");
        }
    }
}

fn send_abstract(socket: &UnixDatagram, name: &[u8], message: &str) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message.as_bytes(), &address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_fails() {
        let mut notifier = Notifier::from_values(None, Some("1000000".into()), None);
        assert!(!notifier.is_active());
        notifier.ready();
        notifier.alive();
        notifier.stopping();
    }

    #[test]
    fn messages_reach_the_socket_and_watchdog_pings_are_spaced() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("no temp dir") };
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).map_err(|e| e.to_string());
        let Ok(listener) = listener else {
            panic!("cannot bind")
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())
            .ok();
        let mut notifier = Notifier::from_values(
            Some(path.display().to_string()),
            Some("60000000".into()),
            None,
        );
        notifier.ready();
        notifier.alive();
        notifier.alive();
        notifier.status("2 pending");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = listener.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(got, ["READY=1", "WATCHDOG=1", "STATUS=2 pending"]);
    }

    #[test]
    fn a_watchdog_meant_for_another_process_is_ignored() {
        let notifier =
            Notifier::from_values(Some("/run/x".into()), Some("1000".into()), Some("1".into()));
        assert_eq!(notifier.watchdog_every, None);
    }
}
