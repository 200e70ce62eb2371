//! The command line: one binary, a subcommand per job. Each subcommand lives in its own file; the
//! admin subcommands (`status`, `list`, `show`, `retry`, `cancel`, `purge`) share `common` and
//! `change_rows`, and read and change the database through [`crate::admin`]; how they show it (`render`, `json`,
//! `change_doc`, `output`) is here.

mod args;
mod cancel;
mod change_doc;
mod change_rows;
mod check_config;
mod common;
mod enqueue;
mod json;
mod list;
mod output;
mod pool;
mod purge;
mod render;
mod retry;
mod run;
mod sandbox;
mod show;
mod status;
mod usage;

pub use args::{Cli, Command};
pub use common::NEEDS_ATTENTION;

use std::process::ExitCode;

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let config = cli.config.as_deref();
    usage::settle(match cli.command {
        Command::Run(args) => runtime.block_on(run::run(config, args)),
        Command::CheckConfig => check_config::check_config(config),
        Command::Enqueue(args) => runtime.block_on(enqueue::enqueue(config, args)),
        Command::Status(args) => runtime.block_on(status::status(config, args)),
        Command::List(args) => runtime.block_on(list::list(config, args)),
        Command::Show(args) => runtime.block_on(show::show(config, args)),
        Command::Retry(args) => runtime.block_on(retry::retry(config, args)),
        Command::Cancel(args) => runtime.block_on(cancel::cancel(config, args)),
        Command::Purge(args) => runtime.block_on(purge::purge(config, args)),
        Command::Pool(args) => runtime.block_on(pool::pool(config, args)),
    })
}
