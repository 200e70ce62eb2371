//! What the admin commands (`status`, `list`, `show`, `retry`, `cancel`, `purge`) read and change
//! in a database a daemon may be delivering from at the same moment. One file per concern.

mod apply;
mod change;
mod change_doc;
mod daemon;
mod explain;
mod filter;
mod json;
mod lock_wait;
mod newer;
mod open;
mod output;
mod purge;
mod render;
mod rows;
mod schema;
mod situation;
mod status;
mod time;

pub use apply::{Applied, OrderGuard, apply, in_flight_matching};
pub use change::{Candidate, Change, Need, Permit, Plan, Refusal, plan};
pub use change_doc::{ChangeDoc, ChangeMode, NeedDoc, PurgeDoc};
pub use daemon::{DaemonView, SavedState, frame};
pub use explain::{Ahead, Explanation, NewerDelivered, Pause, Situation, explain};
pub use filter::{RowFilter, visitor_key};
pub use json::{ListDoc, RowDoc, ShowDoc, StatusDoc};
pub use lock_wait::{LOCK_WAIT, holders, with_lock_notice};
pub use newer::Newer;
pub use open::{Database, open};
pub use output::{Delivery, Out};
pub use purge::{PurgeScope, count_purgeable, purge};
pub use render::{
    Table, Width, age, cell, clean, clock_time, count, relative, rfc3339, stdout_width, when,
};
pub use rows::{Order, OutboxRow, find, list};
pub use situation::{RowReport, report};
pub use status::{Counts, HEARTBEAT_STALE_MS, Status, read_status};
pub use time::TimeFrame;
