//! The command-line grammar.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Delivers offline visitor events from a SQLite outbox to Adobe Target.
#[derive(Debug, Parser)]
#[command(name = "profile-outbox", version, about)]
pub struct Cli {
    /// Configuration file. Without it, /etc/profile-outbox/config.toml is read when it exists,
    /// else the built-in defaults are used.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deliver rows from the outbox until SIGTERM or SIGINT.
    Run(RunArgs),
    /// Check a configuration file; exits non-zero when it has a problem.
    CheckConfig,
    /// Add a row to the outbox, as a producer would.
    Enqueue(EnqueueArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Deliver to a built-in local stand-in for Target instead of Adobe.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("visitor").required(true).args(["mbox_pc", "mbox_3rd_party_id"])))]
pub struct EnqueueArgs {
    /// Target's visitor id (tntId), e.g. 1368007744041-575948.01_00.
    #[arg(long, value_name = "ID")]
    pub mbox_pc: Option<String>,
    /// Your own visitor id (CRM, loyalty card).
    #[arg(long = "mbox-3rd-party-id", value_name = "ID")]
    pub mbox_3rd_party_id: Option<String>,
    /// An attribute, as name=value (the name without "profile."). Repeat for more.
    #[arg(long = "attr", value_name = "NAME=VALUE", required = true, value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// Free text naming the app the row comes from.
    #[arg(long)]
    pub source: Option<String>,
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}
