//! The command-line grammar.

use crate::outbox::State;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Show whether the daemon runs, how far behind it is, and what needs a person. Exits 0 when
    /// a daemon runs and nothing needs a person, 3 when something needs attention (no daemon
    /// running included), 1 when it cannot tell, 2 on a wrong command line.
    Status(StatusArgs),
    /// List rows, newest first.
    List(ListArgs),
    /// Show one row whole, and why it is where it is.
    Show(ShowArgs),
    /// Send failed rows again: pending, due now, attempts reset.
    Retry(RetryArgs),
    /// Withdraw pending or failed rows: they will never be sent.
    Cancel(CancelArgs),
    /// Delete delivered and cancelled rows older than an age.
    Purge(PurgeArgs),
    /// Set up and look after the quota pool shared by several hosts (`[quota.pool]`).
    Pool(super::pool::PoolArgs),
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
    /// An attribute, as name=value (the name without "profile."). Repeat for more. A value
    /// written as a JSON number (3, 4.5) or true/false is stored as one; anything else as text.
    #[arg(long = "attr", value_name = "NAME=VALUE", required_unless_present = "text_attributes", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// An attribute stored as text whatever it looks like (a card number 0042, a zip code 8001).
    #[arg(long = "attr-str", value_name = "NAME=VALUE", value_parser = parse_attribute)]
    pub text_attributes: Vec<(String, String)>,
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

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON document instead of text (fields in the README).
    #[arg(long)]
    pub json: bool,
}

/// Which rows, by visitor, source and age. Conditions combine.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Rows of this tntId visitor.
    #[arg(long, value_name = "ID", conflicts_with = "mbox_3rd_party_id")]
    pub mbox_pc: Option<String>,
    /// Rows of this visitor id of yours.
    #[arg(long = "mbox-3rd-party-id", value_name = "ID")]
    pub mbox_3rd_party_id: Option<String>,
    /// Rows from this source.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Rows added longer ago than this, e.g. 30m, 2h, 7d.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<Duration>,
    /// Rows added within this, e.g. 30m, 2h, 7d.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub newer_than: Option<Duration>,
}

impl FilterArgs {
    pub fn is_empty(&self) -> bool {
        self.mbox_pc.is_none()
            && self.mbox_3rd_party_id.is_none()
            && self.source.is_none()
            && self.older_than.is_none()
            && self.newer_than.is_none()
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Rows in these states (pending, in_flight, delivered, failed, cancelled); repeat or
    /// separate with commas.
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<State>,
    /// Oldest rows first (the default is newest first).
    #[arg(long)]
    pub oldest_first: bool,
    /// At most this many rows.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// One JSON document instead of a table (fields in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The row's id.
    pub id: i64,
    /// One JSON document instead of text (fields in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Failed rows to retry, by id. Without ids, give a filter or --all.
    #[arg(value_name = "ID", conflicts_with_all = ["FilterArgs", "all"])]
    pub ids: Vec<i64>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Every failed row.
    #[arg(long, conflicts_with = "FilterArgs")]
    pub all: bool,
    /// Go ahead when more than one row would change.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Retry a row even though a newer row of its visitor was already delivered or is being
    /// sent: its older value then reaches Target after the newer one and may overwrite it.
    #[arg(long)]
    pub even_if_newer_sent: bool,
    /// Retry a row even though its own data breaks one of Target's rules (the daemon sets it
    /// aside again before sending it).
    #[arg(long)]
    pub even_if_invalid: bool,
    /// Say what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON document instead of text (fields in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Pending or failed rows to cancel, by id. Without ids, give a filter or --all.
    #[arg(value_name = "ID", conflicts_with_all = ["FilterArgs", "state", "all"])]
    pub ids: Vec<i64>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only rows in this state: pending or failed (the default is both).
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<State>,
    /// Every pending and failed row.
    #[arg(long, conflicts_with_all = ["FilterArgs", "state"])]
    pub all: bool,
    /// Go ahead when more than one row would change.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Say what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON document instead of text (fields in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Delete rows added longer ago than this, e.g. 30d.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Duration,
    /// Only rows in this state: delivered or cancelled (the default is both).
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<State>,
    /// Go ahead when more than one row would be deleted.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Say how many rows would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON document instead of text (fields in the README).
    #[arg(long)]
    pub json: bool,
}

/// An age as the configuration writes durations: "30s", "5m", "7d".
fn parse_age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{text:?} is not an age ({e}); write it like \"30m\", \"2h\" or \"7d\"")
    })
}

fn parse_state(text: &str) -> Result<State, String> {
    State::parse(text.trim()).ok_or_else(|| {
        format!("{text:?} is not a state: pending, in_flight, delivered, failed or cancelled")
    })
}
