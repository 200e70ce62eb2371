//! `profile-outbox cancel`: pending or failed rows become cancelled and are never sent.

use super::args::CancelArgs;
use super::change_rows::{Request, change_rows};
use super::common;
use super::retry::{format, mode};
use super::usage::refuse;
use crate::admin::{Change, Permit};
use crate::clock::Clock;
use std::path::Path;
use std::process::ExitCode;

pub async fn cancel(config_path: Option<&Path>, args: CancelArgs) -> anyhow::Result<ExitCode> {
    common::check_states("cancel", &args.state, Change::Cancel.from_states())?;
    if args.ids.is_empty() && args.filter.is_empty() && args.state.is_empty() && !args.all {
        return refuse(
            "say which rows to cancel: their ids, a filter (--state, --source, --mbox-pc, \
             --mbox-3rd-party-id, --older-than, --newer-than), or --all",
        );
    }
    let now = Clock::System.wall_ms();
    let request = Request {
        change: Change::Cancel,
        filter: common::row_filter(&args.filter, &args.state, &args.ids, now),
        permits: if args.yes {
            vec![Permit::Many]
        } else {
            Vec::new()
        },
        mode: mode(args.dry_run),
        format: format(args.json),
    };
    change_rows(config_path, request).await
}
