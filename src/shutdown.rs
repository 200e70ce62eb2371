//! Turns SIGTERM and SIGINT into the one cancellation token every task watches.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `stop` on the first SIGTERM or SIGINT.
pub fn cancel_on_signals(stop: CancellationToken) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            () = stop.cancelled() => return,
        };
        tracing::info!(
            signal = name,
            "stopping: no new claims, finishing requests in flight"
        );
        stop.cancel();
    });
    Ok(())
}
