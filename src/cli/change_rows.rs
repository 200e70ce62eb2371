//! What `retry` and `cancel` share: find the rows, refuse without the flags the change needs
//! (`--yes` before more than one row; for a retry, `--even-if-newer-sent` and
//! `--even-if-invalid`), or with `--dry-run` only say what would change; else change them and say
//! what was done.

use super::change_doc::{ChangeDoc, ChangeMode};
use super::common::{self, id_list};
use super::output::Out;
use super::usage::refuse;
use crate::admin::{self, Applied, Change, Need, OrderGuard, Permit, Plan, RowFilter};
use crate::clock::Clock;
use std::path::Path;
use std::process::ExitCode;

/// Text or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// One `retry` or `cancel` as the command line asks for it.
#[derive(Clone, Debug)]
pub struct Request {
    pub change: Change,
    pub filter: RowFilter,
    /// The flags given that allow what is otherwise refused.
    pub permits: Vec<Permit>,
    pub mode: ChangeMode,
    pub format: Format,
}

/// Runs the request. Exits 2 when a flag is lacking (nothing changed), 1 when a row asked for
/// was not changed or matching rows were left in flight.
pub async fn change_rows(config_path: Option<&Path>, request: Request) -> anyhow::Result<ExitCode> {
    let (_, db) = common::open(config_path).await?;
    let plan = admin::plan(&db.pool, request.change, &request.filter).await?;
    let needs = plan.needs(&request.permits);
    if request.mode == ChangeMode::DryRun || !needs.is_empty() {
        let mut doc = ChangeDoc::preview(&plan, &needs, request.mode);
        doc.left_in_flight = in_flight(&db.pool, &request).await?;
        // Closed before leaving, as on every path: the last connection to close removes the
        // -wal and -shm files, which must not be left behind owned by the operator's user.
        db.pool.close().await;
        if request.mode == ChangeMode::DryRun {
            write(request.format, &doc, || preview_lines(&plan, &doc))?;
            return Ok(ExitCode::SUCCESS);
        }
        // A refusal: scripts get the preview as JSON; people get the reason on stderr only.
        if request.format == Format::Json {
            write(Format::Json, &doc, Vec::new)?;
        }
        return refuse(refusal(&plan, &needs));
    }
    let frame = admin::frame(&db, Clock::System).await?;
    let guard = if request.permits.contains(&Permit::AfterNewer) {
        OrderGuard::Waive
    } else {
        OrderGuard::Keep
    };
    let change = admin::apply(&db.pool, &plan, frame.now_ms(), guard);
    let applied = admin::with_lock_notice(&db.path, change).await?;
    let mut doc = ChangeDoc::applied(&plan, &applied);
    doc.left_in_flight = in_flight(&db.pool, &request).await?;
    db.pool.close().await;
    write(request.format, &doc, || lines(&plan, &applied, &doc))?;
    Ok(if doc.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// For a cancel by filter or `--all`: the matching rows in flight, which it leaves to the daemon.
/// (Rows named by id are reported one by one as refused.)
async fn in_flight(pool: &sqlx::SqlitePool, request: &Request) -> anyhow::Result<Vec<i64>> {
    let takes_pending = request.filter.states.is_empty()
        || request
            .filter
            .states
            .contains(&crate::outbox::State::Pending);
    if request.change != Change::Cancel || !takes_pending || !request.filter.ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(admin::in_flight_matching(pool, &request.filter).await?)
}

fn write(
    format: Format,
    doc: &ChangeDoc,
    text: impl FnOnce() -> Vec<String>,
) -> anyhow::Result<()> {
    let mut out = Out::stdout();
    match format {
        Format::Json => out.json(doc)?,
        Format::Text => out.lines(&text())?,
    }
    out.finish()?;
    Ok(())
}

/// `nothing changed: …; run again with --yes to change them (rows …)`.
fn refusal(plan: &Plan, needs: &[Need]) -> String {
    let whys: Vec<&str> = needs.iter().map(|n| n.why.as_str()).collect();
    let flags: Vec<&str> = needs.iter().map(|n| n.permit.flag()).collect();
    format!(
        "nothing changed: {}; run again with {} to change them anyway (rows {})",
        whys.join("; and "),
        flags.join(" "),
        id_list(&plan.ids(), 20)
    )
}

fn preview_lines(plan: &Plan, doc: &ChangeDoc) -> Vec<String> {
    let action = plan.change.action();
    let mut lines = vec![match doc.would_change.len() {
        0 => format!("dry run: {action} would change no row"),
        1 => format!(
            "dry run: {action} would change 1 row: {}",
            id_list(&doc.would_change, 50)
        ),
        n => format!(
            "dry run: {action} would change {n} rows: {}",
            id_list(&doc.would_change, 50)
        ),
    }];
    lines.extend(
        doc.needs
            .iter()
            .map(|n| format!("needs {}: {}", n.flag, n.why)),
    );
    lines.extend(in_flight_lines(&doc.left_in_flight));
    lines.extend(refused_lines(plan.change, doc));
    lines
}

fn lines(plan: &Plan, applied: &Applied, doc: &ChangeDoc) -> Vec<String> {
    let done = plan.change.done();
    let mut lines = vec![match doc.changed.len() {
        0 => format!("no row {done}"),
        1 => format!("{done} 1 row: {}", id_list(&doc.changed, 50)),
        n => format!("{done} {n} rows: {}", id_list(&doc.changed, 50)),
    }];
    for row in plan.rows.iter().filter(|c| doc.changed.contains(&c.id)) {
        if let Some(newer) = &row.newer {
            lines.push(format!(
                "row {} goes out after a newer row of its visitor (row {}, {})",
                row.id, newer.id, newer.state
            ));
        }
    }
    for (id, newer) in &applied.overtaken {
        lines.push(format!(
            "row {id} left failed: row {} of the same visitor went out ({}) while {} ran, so \
             retrying would send the older value after it",
            newer.id,
            newer.state,
            plan.change.action()
        ));
    }
    for id in &doc.left_alone {
        lines.push(format!(
            "row {id} changed state before it could be {done} (the daemon took it); left alone"
        ));
    }
    lines.extend(in_flight_lines(&doc.left_in_flight));
    lines.extend(refused_lines(plan.change, doc));
    lines
}

fn in_flight_lines(ids: &[i64]) -> Option<String> {
    match ids.len() {
        0 => None,
        n => Some(format!(
            "left {n} matching {} in flight (being sent now; no command changes {}): {}",
            if n == 1 { "row" } else { "rows" },
            if n == 1 { "it" } else { "them" },
            id_list(ids, 20)
        )),
    }
}

fn refused_lines(change: Change, doc: &ChangeDoc) -> Vec<String> {
    let done = change.done();
    doc.refused
        .iter()
        .map(|refused| match refused.state.as_deref() {
            None => format!("row {}: there is no such row", refused.id),
            Some("in_flight") => format!(
                "row {}: in flight (being sent now), never changed by hand; not {done}",
                refused.id
            ),
            Some(state) => format!("row {} is {state}: {}", refused.id, change.takes()),
        })
        .collect()
}
