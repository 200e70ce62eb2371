//! What the admin commands (`status`, `list`, `show`, `retry`, `cancel`, `purge`) read and change
//! in a database a daemon may be delivering from at the same moment. One file per concern.

mod apply;
mod change;
mod daemon;
mod explain;
mod filter;
mod lock_wait;
mod newer;
mod open;
mod purge;
mod rows;
mod schema;
mod situation;
mod status;
mod time;

pub use apply::{Applied, OrderGuard, apply, in_flight_matching};
pub use change::{Candidate, Change, Need, Permit, Plan, Refusal, plan};
pub use daemon::{DaemonView, SavedState, frame};
pub use explain::{Ahead, Explanation, NewerDelivered, Pause, Situation, explain};
pub use filter::{RowFilter, visitor_key};
pub use lock_wait::{LOCK_WAIT, holders, with_lock_notice};
pub use newer::Newer;
pub use open::{Database, open};
pub use purge::{PurgeScope, count_purgeable, purge};
pub use rows::{Order, OutboxRow, find, list};
pub use situation::{RowReport, report};
pub use status::{Counts, HEARTBEAT_STALE_MS, Status, read_status};
pub use time::TimeFrame;
