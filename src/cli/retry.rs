//! `profile-outbox retry`: failed rows become pending again, due now, with their attempts reset.

use super::args::RetryArgs;
use super::change_doc::ChangeMode;
use super::change_rows::{Format, Request, change_rows};
use super::common;
use super::usage::refuse;
use crate::admin::{Change, Permit};
use crate::clock::Clock;
use std::path::Path;
use std::process::ExitCode;

pub async fn retry(config_path: Option<&Path>, args: RetryArgs) -> anyhow::Result<ExitCode> {
    if args.ids.is_empty() && args.filter.is_empty() && !args.all {
        return refuse(
            "say which failed rows to retry: their ids, a filter (--source, --mbox-pc, \
             --mbox-3rd-party-id, --older-than, --newer-than), or --all",
        );
    }
    let now = Clock::System.wall_ms();
    let flags = [
        (args.yes, Permit::Many),
        (args.even_if_newer_sent, Permit::AfterNewer),
        (args.even_if_invalid, Permit::Invalid),
    ];
    let request = Request {
        change: Change::Retry,
        filter: common::row_filter(&args.filter, &[], &args.ids, now),
        permits: flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| *p)
            .collect(),
        mode: mode(args.dry_run),
        format: format(args.json),
    };
    change_rows(config_path, request).await
}

pub fn mode(dry_run: bool) -> ChangeMode {
    if dry_run {
        ChangeMode::DryRun
    } else {
        ChangeMode::Apply
    }
}

pub fn format(json: bool) -> Format {
    if json { Format::Json } else { Format::Text }
}
