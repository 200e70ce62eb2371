//! `profile-outbox status`: the daemon's health and the backlog, for a person or a monitoring
//! check. Exits 0 when a daemon runs and all is well, 3 when something needs a person (listed; a
//! daemon not running is one such thing), 1 when it cannot tell.

use super::args::StatusArgs;
use super::common::{self, NEEDS_ATTENTION};
use super::json::StatusDoc;
use super::output::Out;
use super::render::{Width, cell, clean, stdout_width};
use crate::admin::Database;
use crate::admin::{self, Status};
use crate::clock::Clock;
use crate::config::Settings;
use crate::quota::pool::{PoolView, PoolViewDoc, pool_attention, read_view, render_pool};
use crate::words::{count, relative, when};
use std::path::Path;
use std::process::ExitCode;

pub async fn status(config_path: Option<&Path>, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (settings, db) = common::open(config_path).await?;
    let status = admin::read_status(&db, common::quota_limit(&settings), Clock::System).await?;
    let pool = pool_view(&settings, &db).await?;
    db.pool.close().await;
    let mut attention = status.attention();
    attention.extend(pool.as_ref().and_then(|v| pool_attention(v, status.now_ms)));
    let mut out = Out::stdout();
    if args.json {
        out.json(&WithPool {
            status: StatusDoc::new(&status),
            pool: pool.as_ref().map(PoolViewDoc::new),
        })?;
    } else {
        let mut text = lines(&status, &attention, pool.is_some());
        if let Some(view) = &pool {
            // Before the blank line that ends the figures.
            let at = text.iter().position(String::is_empty).unwrap_or(text.len());
            text.splice(at..at, render_pool(view, status.now_ms));
        }
        out.lines(&text)?;
    }
    out.finish()?;
    Ok(if attention.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NEEDS_ATTENTION)
    })
}

/// This host's view of the quota pool, when `[quota.pool]` names one.
async fn pool_view(settings: &Settings, db: &Database) -> anyhow::Result<Option<PoolView>> {
    if settings.quota.pool.is_none() {
        return Ok(None);
    }
    Ok(read_view(&db.pool).await?)
}

/// `status --json`: the status document, with `pool` when there is one.
#[derive(serde::Serialize)]
struct WithPool {
    #[serde(flatten)]
    status: StatusDoc,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<PoolViewDoc>,
}

/// `pooled`: the quota is shared through a pool, whose lines say what this host may send; the
/// local ledger's figure is then not the limit.
fn lines(s: &Status, attention: &[String], pooled: bool) -> Vec<String> {
    let c = s.counts;
    let never = || "none".to_owned();
    let pairs = [
        ("database", s.database.display().to_string()),
        ("daemon", daemon(s)),
        (
            "rows",
            format!(
                "{} pending, {} in flight, {} delivered, {} failed, {} cancelled",
                c.pending, c.in_flight, c.delivered, c.failed, c.cancelled
            ),
        ),
        (
            "oldest pending",
            s.oldest_pending.map_or_else(never, |(id, at)| {
                format!("row {id}, added {}", when(at, s.now_ms))
            }),
        ),
        ("due now", count(s.due_now, "row")),
        (
            "next retry",
            s.next_retry_at_ms.map_or_else(never, |t| when(t, s.now_ms)),
        ),
        (
            "quota",
            if pooled {
                "shared with other hosts through the quota pool (below)".to_owned()
            } else {
                quota(s)
            },
        ),
        ("paused", paused(s)),
        ("last delivery", last_delivery(s)),
        ("last error", last_error(s)),
    ];
    let mut lines: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key:<15} {value}"))
        .collect();
    lines.push(String::new());
    if attention.is_empty() {
        lines.push("all is well".into());
    } else {
        lines.push("needs attention:".into());
        lines.extend(attention.iter().map(|r| format!("  - {r}")));
    }
    lines
}

fn daemon(s: &Status) -> String {
    let Some(saved) = &s.daemon.saved else {
        return if s.daemon.running {
            "running (starting up)".into()
        } else {
            "not running; no daemon has run on this database yet".into()
        };
    };
    let pid = saved.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    let heartbeat = saved
        .heartbeat_at
        .map(|t| relative(t, s.now_ms))
        .unwrap_or_else(|| "never".into());
    if s.daemon.running {
        let since = saved
            .started_at
            .map(|t| format!(" since {}", when(t, s.now_ms)))
            .unwrap_or_default();
        format!("running{pid}{since}; last heartbeat {heartbeat}")
    } else {
        // `run` clears the pid when it stops cleanly; a pid left behind means it was killed.
        let how = if saved.pid.is_some() {
            "it did not stop cleanly"
        } else {
            "it stopped cleanly"
        };
        format!("not running; last heartbeat {heartbeat}, {how}")
    }
}

fn quota(s: &Status) -> String {
    let q = &s.quota;
    let spent = q
        .next_free_at
        .map(|t| format!("; spent until {}", when(t, s.now_ms)))
        .unwrap_or_default();
    format!(
        "{} of {} calls used in the last 24 hours, {} left{spent}",
        q.used,
        q.limit,
        q.left()
    )
}

fn paused(s: &Status) -> String {
    let circuit = s
        .daemon
        .saved
        .as_ref()
        .map_or("closed", |d| d.circuit.as_str());
    match s.pause() {
        None => "no".into(),
        Some((reason, Some(until))) => {
            format!(
                "{reason} (circuit {circuit}) until {}",
                when(until, s.now_ms)
            )
        }
        Some((reason, None)) => format!("{reason} (circuit {circuit}); probing"),
    }
}

fn last_delivery(s: &Status) -> String {
    let at = s.daemon.saved.as_ref().and_then(|d| d.last_delivery_at);
    at.map_or_else(|| "none yet".into(), |t| when(t, s.now_ms))
}

fn last_error(s: &Status) -> String {
    let saved = s.daemon.saved.as_ref();
    match saved.and_then(|d| d.last_error.as_deref()) {
        None => "none".into(),
        Some(message) => {
            let at = saved
                .and_then(|d| d.last_error_at)
                .map(|t| format!("{}: ", when(t, s.now_ms)))
                .unwrap_or_default();
            // A person at a terminal gets the start of a long error; a pipe gets all of it.
            let message = match stdout_width() {
                Width::Unlimited => clean(message),
                Width::Columns(_) => cell(message, 200),
            };
            format!("{at}{message}")
        }
    }
}
