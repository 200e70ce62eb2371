//! What `retry` and `cancel` share: find the rows, ask for `--yes` when more than one would change
//! (or a retry would reorder a visitor's values), change them, and say what was done.

use super::common::{self, id_list};
use crate::admin::{self, Change, ChangeDoc, Out, Plan, RowFilter};
use crate::clock::Clock;
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

/// Whether the person said `--yes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    Given,
    NotGiven,
}

/// Text or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Runs `change` on the rows `filter` takes. Exits 1 when a row named by id was not changed.
pub async fn change_rows(
    config_path: Option<&Path>,
    change: Change,
    filter: RowFilter,
    confirmation: Confirmation,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let (_, db) = common::open(config_path).await?;
    let plan = admin::plan(&db.pool, change, &filter).await?;
    if let (Confirmation::NotGiven, Some(why)) = (confirmation, plan.needs_confirmation()) {
        // Closed before leaving, as on every path: the last connection to close removes the
        // -wal and -shm files, which must not be left behind owned by the operator's user.
        db.pool.close().await;
        let ids: Vec<i64> = plan.rows.iter().map(|c| c.id).collect();
        bail!(
            "nothing changed: {why} (rows {}); run again with --yes to change them",
            id_list(&ids, 20)
        );
    }
    let frame = admin::frame(&db, Clock::System).await?;
    let changed = admin::apply(&db.pool, &plan, frame.now_ms()).await?;
    db.pool.close().await;
    let doc = ChangeDoc::new(action(change), &plan, &changed);
    let mut out = Out::stdout();
    match format {
        Format::Json => out.json(&doc)?,
        Format::Text => out.lines(&lines(&plan, &doc))?,
    }
    out.finish()?;
    Ok(if doc.refused.is_empty() && doc.left_alone.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn action(change: Change) -> &'static str {
    match change {
        Change::Retry => "retry",
        Change::Cancel => "cancel",
    }
}

fn lines(plan: &Plan, doc: &ChangeDoc) -> Vec<String> {
    let done = plan.change.done();
    let mut lines = vec![match doc.changed.len() {
        0 => format!("no row {done}"),
        1 => format!("{done} 1 row: {}", id_list(&doc.changed, 50)),
        n => format!("{done} {n} rows: {}", id_list(&doc.changed, 50)),
    }];
    for row in plan.rows.iter().filter(|c| doc.changed.contains(&c.id)) {
        if let Some(newer) = row.newer_delivered {
            lines.push(format!(
                "row {} goes out after newer rows of its visitor (latest delivered: row {newer})",
                row.id
            ));
        }
    }
    for id in &doc.left_alone {
        lines.push(format!(
            "row {id} changed state before it could be {done} (the daemon took it); left alone"
        ));
    }
    for refused in &doc.refused {
        lines.push(match refused.state.as_deref() {
            None => format!("row {}: there is no such row", refused.id),
            Some("in_flight") => format!(
                "row {}: in flight (being sent now), never changed by hand; not {done}",
                refused.id
            ),
            Some(state) => format!("row {} is {state}: {}", refused.id, plan.change.takes()),
        });
    }
    lines
}
