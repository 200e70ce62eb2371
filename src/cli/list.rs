//! `profile-outbox list`: rows matching a filter, newest first, as a table or JSON.

use super::args::ListArgs;
use super::common;
use super::json::{ListDoc, RowDoc};
use super::output::{Delivery, Out};
use super::render::{Table, clean, stdout_width};
use crate::admin::{self, Order, OutboxRow, TimeFrame};
use crate::clock::Clock;
use crate::words::{clock_time, relative};
use std::path::Path;
use std::process::ExitCode;

pub async fn list(config_path: Option<&Path>, args: ListArgs) -> anyhow::Result<ExitCode> {
    let (_, db) = common::open(config_path).await?;
    let frame = admin::frame(&db, Clock::System).await?;
    let filter = common::row_filter(&args.filter, &args.state, &[], frame.wall_now_ms());
    let order = if args.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    // One more than asked, to tell whether more rows match.
    let mut rows = admin::list(&db.pool, &filter, order, args.limit.saturating_add(1)).await?;
    db.pool.close().await;
    let more = rows.len() > args.limit as usize;
    rows.truncate(args.limit as usize);
    let mut out = Out::stdout();
    if args.json {
        let rows = rows.iter().map(|r| RowDoc::new(r, &frame)).collect();
        out.json(&ListDoc { rows, more })?;
    } else if rows.is_empty() {
        out.line("no rows match")?;
    } else {
        out.lines(&table(&rows, &frame).lines_within(stdout_width()))?;
    }
    // The note is for a person reading the whole table, not for one who cut it short.
    if out.finish()? == Delivery::Whole && more && !args.json {
        eprintln!(
            "(the first {} rows shown; more match: raise --limit or narrow the filter)",
            args.limit
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[OutboxRow], frame: &TimeFrame) -> Table {
    let now = frame.wall_now_ms();
    let mut table = Table::new(&[
        ">ID",
        "STATE",
        "~VISITOR",
        "~SOURCE",
        "ADDED",
        "AGE",
        ">ATTEMPTS",
        "NEXT TRY",
        "~LAST ERROR",
    ]);
    for row in rows {
        let next = match row.state.as_str() {
            "pending" if row.next_attempt_at > frame.now_ms() => {
                clock_time(frame.to_wall_ms(row.next_attempt_at))
            }
            "pending" => "now".into(),
            _ => String::new(),
        };
        table.push(vec![
            row.id.to_string(),
            row.state.clone(),
            clean(&row.visitor),
            clean(row.source.as_deref().unwrap_or("")),
            clock_time(row.created_at),
            relative(row.created_at, now),
            row.attempts.to_string(),
            next,
            clean(row.last_error.as_deref().unwrap_or("")),
        ]);
    }
    table
}
