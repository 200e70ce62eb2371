//! What the admin subcommands share: loading the configuration and opening the database, and
//! turning the filter flags into a row filter.

use super::args::FilterArgs;
use crate::admin::{self, Database, RowFilter, visitor_key};
use crate::clock::millis;
use crate::config::{self, Settings};
use crate::outbox::State;
use std::path::Path;

/// `status` exits with this when something needs a person (1 means it could not check; 2 is a
/// wrong command line).
pub const NEEDS_ATTENTION: u8 = 3;

/// Loads the configuration and opens its database, which must exist and have this binary's schema.
pub async fn open(config_path: Option<&Path>) -> anyhow::Result<(Settings, Database)> {
    let settings = config::load(config_path, None)?;
    let db = admin::open(&settings.database).await?;
    Ok((settings, db))
}

/// `quota.calls_per_day` as the ledger counts it.
pub fn quota_limit(settings: &Settings) -> i64 {
    i64::from(settings.quota.calls_per_day.get())
}

/// The filter the flags describe, with ages measured back from `now_ms` (wall clock).
pub fn row_filter(flags: &FilterArgs, states: &[State], ids: &[i64], now_ms: i64) -> RowFilter {
    RowFilter {
        ids: ids.to_vec(),
        states: states.to_vec(),
        visitor: visitor_key(flags.mbox_pc.as_deref(), flags.mbox_3rd_party_id.as_deref()),
        source: flags.source.clone(),
        created_before_ms: flags.older_than.map(|d| now_ms.saturating_sub(millis(d))),
        created_since_ms: flags.newer_than.map(|d| now_ms.saturating_sub(millis(d))),
    }
}

/// Refuses states outside `allowed` for a command, naming them.
pub fn check_states(command: &str, states: &[State], allowed: &[State]) -> anyhow::Result<()> {
    if let Some(bad) = states.iter().find(|s| !allowed.contains(s)) {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        return super::usage::refuse(format!(
            "`{command} --state {bad}`: {command} takes rows in state {} only",
            names.join(" or ")
        ));
    }
    Ok(())
}

/// Ids as `12, 15, 18`, the first `max` of them and a count of the rest.
pub fn id_list(ids: &[i64], max: usize) -> String {
    let mut text: Vec<String> = ids.iter().take(max).map(i64::to_string).collect();
    if ids.len() > max {
        text.push(format!("and {} more", ids.len() - max));
    }
    text.join(", ")
}
