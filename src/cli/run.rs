//! `profile-outbox run`. With `--sandbox` the daemon delivers to a local stand-in from its own
//! database (see [`super::sandbox`]), never from `database.path`.

use super::args::RunArgs;
use super::sandbox;
use crate::clock::Clock;
use crate::daemon::{self, Destination};
use crate::{config, logging, shutdown};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub async fn run(config_path: Option<&Path>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut settings = config::load(config_path, None)?;
    logging::init(&settings.log);
    let busy_timeout = settings.database.busy_timeout;
    let destination = if args.sandbox {
        let folder = std::env::current_dir()
            .context("cannot tell the current folder, where the sandbox keeps its database")?;
        let path = sandbox::prepare(&folder, busy_timeout).await?;
        tracing::warn!(
            database = %path.display(),
            "SANDBOX: using the sandbox's own database, not database.path ({}); add rows to it \
             with PROFILE_OUTBOX__DATABASE__PATH={} profile-outbox enqueue …",
            settings.database.path.display(),
            sandbox::SANDBOX_DATABASE
        );
        settings.database.path = path;
        Destination::Sandbox
    } else {
        sandbox::refuse_sandbox_database(&settings.database.path)?;
        Destination::Target
    };
    let stop = CancellationToken::new();
    shutdown::cancel_on_signals(stop.clone())?;
    daemon::run(settings, destination, Clock::System, stop).await?;
    Ok(ExitCode::SUCCESS)
}
