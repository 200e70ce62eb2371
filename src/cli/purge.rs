//! `profile-outbox purge --older-than AGE`: deletes delivered and cancelled rows added before then.

use super::args::PurgeArgs;
use super::common;
use crate::admin::{self, Out, PurgeDoc, PurgeScope, clock_time, rfc3339};
use crate::clock::{Clock, millis};
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

pub async fn purge(config_path: Option<&Path>, args: PurgeArgs) -> anyhow::Result<ExitCode> {
    common::check_states("purge", &args.state, &PurgeScope::STATES)?;
    let (_, db) = common::open(config_path).await?;
    let before_ms = Clock::System
        .wall_ms()
        .saturating_sub(millis(args.older_than));
    let states = if args.state.is_empty() {
        PurgeScope::STATES.to_vec()
    } else {
        args.state.clone()
    };
    let names: Vec<String> = states.iter().map(ToString::to_string).collect();
    let scope = PurgeScope { states, before_ms };
    let matching = admin::count_purgeable(&db.pool, &scope).await?;
    if matching > 1 && !args.yes {
        db.pool.close().await;
        bail!(
            "nothing deleted: {matching} {} rows were added before {}; run again with --yes to \
             delete them",
            names.join(" or "),
            clock_time(before_ms)
        );
    }
    // Without --yes at most the one row counted goes, even if more qualified since.
    let at_most = if args.yes { None } else { Some(1) };
    let deleted = admin::purge(&db.pool, &scope, at_most).await?;
    db.pool.close().await;
    let mut out = Out::stdout();
    if args.json {
        out.json(&PurgeDoc {
            deleted,
            states: names,
            created_before: rfc3339(before_ms),
            created_before_ms: before_ms,
        })?;
    } else {
        out.line(&format!(
            "deleted {deleted} row{} ({} rows added before {})",
            if deleted == 1 { "" } else { "s" },
            names.join(" or "),
            clock_time(before_ms)
        ))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
