//! `profile-outbox pool ...`: set up and look after the quota pool that several hosts share
//! (`init`, `set-limit`, `status`, `remove`). Each connects with the `[quota.pool]` settings of
//! the configuration, runs one transaction and exits.

use crate::config::{self, PoolSettings};
use crate::quota::pool::{self, HostStatus, PoolStatus};
use anyhow::Context;
use clap::{Args, Subcommand};
use sqlx::postgres::PgConnection;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PoolArgs {
    #[command(subcommand)]
    pub command: PoolCommand,
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create the pool's tables and set its limit (calls per rolling 24 hours for all hosts).
    Init {
        #[arg(long, value_name = "CALLS")]
        limit: u32,
    },
    /// Change the pool's limit; refused below the hosts' offline shares.
    SetLimit {
        #[arg(value_name = "CALLS")]
        limit: u32,
    },
    /// Show the limit, the calls in the window and each host's part.
    Status {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget a retired host and release its offline share. Stop its daemon for good first.
    Remove {
        #[arg(value_name = "HOST")]
        host: String,
    },
}

pub async fn pool(config_path: Option<&Path>, args: PoolArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(config_path, None)?;
    let Some(pool_settings) = settings.quota.pool else {
        anyhow::bail!("quota.pool.url is not set: there is no pool to look after");
    };
    let mut conn = connect(&pool_settings).await?;
    let url = &pool_settings.url;
    match args.command {
        PoolCommand::Init { limit } => {
            pool::init(&mut conn, i64::from(limit))
                .await
                .with_context(|| format!("cannot set up the pool at {url}"))?;
            println!("pool set up at {url} with a limit of {limit} calls per 24 hours");
        }
        PoolCommand::SetLimit { limit } => {
            pool::set_limit(&mut conn, i64::from(limit))
                .await
                .with_context(|| format!("cannot change the limit of the pool at {url}"))?;
            println!("pool limit now {limit} calls per 24 hours");
        }
        PoolCommand::Status { json } => {
            let shown = pool::status(&mut conn)
                .await
                .with_context(|| format!("cannot read the pool at {url}"))?;
            print!(
                "{}",
                if json {
                    to_json(&shown)?
                } else {
                    render(&shown)
                }
            );
        }
        PoolCommand::Remove { host } => {
            let removed = pool::remove(&mut conn, &host)
                .await
                .with_context(|| format!("cannot remove host {host:?} from the pool at {url}"))?;
            if !removed {
                anyhow::bail!("host {host:?} is not in the pool at {url}");
            }
            println!("host {host:?} removed; its offline share is free");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn connect(settings: &PoolSettings) -> anyhow::Result<PgConnection> {
    let options = pool::connect_options(settings)?;
    pool::connect(&options)
        .await
        .with_context(|| format!("cannot reach the pool at {}", settings.url))
}

fn to_json(shown: &PoolStatus) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(shown).context("cannot write the pool status as JSON")? + "\n")
}

fn render(shown: &PoolStatus) -> String {
    let mut text = format!(
        "limit:            {} calls per 24 hours\n\
         calls in window:  {}\n\
         offline shares:   {}\n\
         free now:         {}\n",
        shown.limit, shown.calls_in_window, shown.offline_shares, shown.free
    );
    if !shown.hosts.is_empty() {
        text += "\nhost                 calls in window  offline share  last contact  running\n";
    }
    for host in &shown.hosts {
        text += &format!(
            "{:<20} {:>15}  {:>13}  {:>12}  {}\n",
            host.host,
            host.calls_in_window,
            host.offline_share,
            format!("{}s ago", host.last_contact_secs),
            running(host)
        );
        if let Some(span) = &host.last_offline {
            text += &format!(
                "{:<20} last cut off from {}s ago to {}s ago; {} offline calls in its 24 hours \
                 then\n",
                "", span.began_secs_ago, span.ended_secs_ago, host.offline_calls
            );
        }
    }
    text
}

/// How a host is running, as far as the pool can tell (`quota::pool::status`).
fn running(host: &HostStatus) -> &'static str {
    match (host.offline, host.busy) {
        (true, _) => "OFFLINE (silent while it had work: on its offline share, or stopped)",
        (false, true) => "online",
        (false, false) => "idle",
    }
}
