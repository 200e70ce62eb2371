//! `profile-outbox run`.

use super::args::RunArgs;
use crate::clock::Clock;
use crate::daemon::{self, Destination};
use crate::{config, logging, shutdown};
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub async fn run(config_path: Option<&Path>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(config_path, None)?;
    logging::init(&settings.log);
    let stop = CancellationToken::new();
    shutdown::cancel_on_signals(stop.clone())?;
    let destination = if args.sandbox {
        Destination::Sandbox
    } else {
        Destination::Target
    };
    daemon::run(settings, destination, Clock::System, stop).await?;
    Ok(ExitCode::SUCCESS)
}
