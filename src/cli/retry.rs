//! `profile-outbox retry`: failed rows become pending again, due now, with their attempts reset.

use super::args::RetryArgs;
use super::change_rows::{Confirmation, Format, change_rows};
use super::common;
use crate::admin::Change;
use crate::clock::Clock;
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

pub async fn retry(config_path: Option<&Path>, args: RetryArgs) -> anyhow::Result<ExitCode> {
    if args.ids.is_empty() && args.filter.is_empty() && !args.all {
        bail!(
            "say which failed rows to retry: their ids, a filter (--source, --mbox-pc, \
             --mbox-3rd-party-id, --older-than, --newer-than), or --all"
        );
    }
    let now = Clock::System.wall_ms();
    let filter = common::row_filter(&args.filter, &[], &args.ids, now);
    change_rows(
        config_path,
        Change::Retry,
        filter,
        confirmation(args.yes),
        format(args.json),
    )
    .await
}

pub fn confirmation(yes: bool) -> Confirmation {
    if yes {
        Confirmation::Given
    } else {
        Confirmation::NotGiven
    }
}

pub fn format(json: bool) -> Format {
    if json { Format::Json } else { Format::Text }
}
