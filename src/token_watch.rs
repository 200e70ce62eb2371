//! Re-reads `target.token_file` when it changes and on SIGHUP, so an operator can replace an
//! expired token without restarting the daemon or touching the queue.

use crate::config::Token;
use crate::delivery::Deliverer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// How often the file is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Watches the token file, if one is configured, on behalf of a deliverer.
pub struct TokenWatch {
    path: Option<PathBuf>,
    current: Option<Token>,
}

impl TokenWatch {
    /// `current` is the token the daemon started with.
    pub fn new(path: Option<PathBuf>, current: Option<Token>) -> TokenWatch {
        TokenWatch { path, current }
    }

    /// Reads the file and hands a changed token to the deliverer. Returns whether it changed. A
    /// file that cannot be read keeps the current token (an editor may be replacing it).
    pub fn check(&mut self, deliverer: &Deliverer) -> bool {
        let Some(path) = &self.path else { return false };
        let read = match Token::read_file(path) {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, "keeping the current token");
                return false;
            }
        };
        if read == self.current {
            return false;
        }
        self.current = read.clone();
        deliverer.token_changed(read);
        true
    }

    /// Checks every couple of seconds and on SIGHUP until `stop` is cancelled. Runs even without
    /// a token file, so that SIGHUP never ends the daemon.
    pub async fn run(
        mut self,
        deliverer: Arc<Deliverer>,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut hangup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = hangup.recv() => match &self.path {
                    Some(path) => tracing::info!(file = %path.display(), "SIGHUP: re-reading the token file"),
                    None => tracing::info!("SIGHUP: no target.token_file is configured; nothing to re-read"),
                },
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            self.check(&deliverer);
        }
    }
}
