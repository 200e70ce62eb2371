//! The command line: one binary, a subcommand per job. Each subcommand lives in its own file.

mod args;
mod check_config;
mod enqueue;
mod run;

pub use args::{Cli, Command};

use std::process::ExitCode;

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let config = cli.config.as_deref();
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(config, args)),
        Command::CheckConfig => check_config::check_config(config),
        Command::Enqueue(args) => runtime.block_on(enqueue::enqueue(config, args)),
    }
}
