//! `profile-outbox purge --older-than AGE`: deletes delivered and cancelled rows added before then.
//! Without `--yes` it deletes at most one row; with `--dry-run` it only counts.

use super::args::PurgeArgs;
use super::change_doc::{NeedDoc, PurgeDoc};
use super::common;
use super::output::Out;
use super::usage::refuse;
use crate::admin::{self, PurgeScope};
use crate::clock::{Clock, millis};
use crate::words::{clock_time, rfc3339};
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
    let what = format!(
        "{} rows added before {}",
        names.join(" or "),
        clock_time(before_ms)
    );
    let mut doc = PurgeDoc {
        dry_run: args.dry_run,
        done: false,
        needs: Vec::new(),
        would_delete: matching,
        deleted: 0,
        states: names,
        created_before: rfc3339(before_ms),
        created_before_ms: before_ms,
    };
    if matching > 1 && !args.yes && !args.dry_run {
        db.pool.close().await;
        doc.needs.push(NeedDoc {
            flag: "--yes",
            why: format!("{matching} rows match"),
        });
        if args.json {
            write(true, &doc, "")?;
        }
        return refuse(format!(
            "nothing deleted: {matching} {what}; run again with --yes to delete them"
        ));
    }
    if args.dry_run {
        db.pool.close().await;
        let text = format!("dry run: purge would delete {} ({what})", rows(matching));
        write(args.json, &doc, &text)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Without --yes at most the one row counted goes, even if more qualified since.
    let at_most = if args.yes { None } else { Some(1) };
    let deleting = admin::purge(&db.pool, &scope, at_most);
    doc.deleted = admin::with_lock_notice(&db.path, deleting).await?;
    doc.done = true;
    db.pool.close().await;
    let text = format!("deleted {} ({what})", rows(doc.deleted));
    write(args.json, &doc, &text)?;
    Ok(ExitCode::SUCCESS)
}

/// `1 row`, `2 rows`.
fn rows(n: u64) -> String {
    format!("{n} row{}", if n == 1 { "" } else { "s" })
}

fn write(json: bool, doc: &PurgeDoc, text: &str) -> anyhow::Result<()> {
    let mut out = Out::stdout();
    if json {
        out.json(doc)?;
    } else {
        out.line(text)?;
    }
    out.finish()?;
    Ok(())
}
