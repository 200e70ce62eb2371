//! `profile-outbox show ID`: one row whole (no value is shortened), and in plain words why it is
//! where it is.

use super::args::ShowArgs;
use super::common;
use super::json::ShowDoc;
use super::output::Out;
use super::render::clean;
use crate::admin::{self, RowReport};
use crate::clock::Clock;
use crate::words::{count, when};
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

pub async fn show(config_path: Option<&Path>, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (settings, db) = common::open(config_path).await?;
    let report = admin::report(&db, args.id, common::quota_limit(&settings), Clock::System).await?;
    db.pool.close().await;
    let Some(report) = report else {
        bail!("there is no row {} in {}", args.id, db.path.display());
    };
    let mut out = Out::stdout();
    if args.json {
        out.json(&ShowDoc::new(&report))?;
    } else {
        out.lines(&lines(&report))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn lines(report: &RowReport) -> Vec<String> {
    let (row, frame) = (&report.row, &report.frame);
    let now = frame.wall_now_ms();
    let why = &report.explanation;
    let mut lines = vec![
        format!("row {}: {}", row.id, row.state),
        format!("why:          {}", clean(&why.summary)),
    ];
    lines.extend(
        why.notes
            .iter()
            .map(|n| format!("              - {}", clean(n))),
    );
    let visitor = match (&row.mbox_pc, &row.mbox_3rd_party_id) {
        (Some(pc), _) => format!("mbox_pc {}", clean(pc)),
        (None, Some(id)) => format!("mbox_3rd_party_id {}", clean(id)),
        (None, None) => "none".into(),
    };
    let next = (row.state == "pending" && row.next_attempt_at > frame.now_ms())
        .then(|| when(frame.to_wall_ms(row.next_attempt_at), now));
    let pairs = [
        ("visitor", visitor),
        ("source", clean(row.source.as_deref().unwrap_or("none"))),
        ("added", when(row.created_at, now)),
        (
            "updated",
            row.updated_at
                .map_or_else(|| "never".into(), |t| when(frame.to_wall_ms(t), now)),
        ),
        ("next try", next.unwrap_or_else(|| "-".into())),
        (
            "attempts",
            format!(
                "{} refused by Target for the row's own fault; {} made{}",
                row.attempts,
                count(row.sends, "request"),
                if row.send_alone {
                    "; sent alone from now on"
                } else {
                    ""
                }
            ),
        ),
        (
            "last status",
            row.last_status
                .map_or_else(|| "none".into(), |s| format!("HTTP {s}")),
        ),
        (
            "last error",
            clean(row.last_error.as_deref().unwrap_or("none")),
        ),
    ];
    lines.extend(
        pairs
            .iter()
            .map(|(k, v)| format!("{:<13} {v}", format!("{k}:"))),
    );
    lines.push("attributes:".into());
    lines.extend(attributes(&row.attributes));
    lines
}

/// The attributes, pretty-printed when they are JSON.
fn attributes(text: &str) -> Vec<String> {
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.to_owned());
    pretty.lines().map(|l| format!("  {}", clean(l))).collect()
}
