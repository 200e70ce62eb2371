//! The outbox table: one small file per operation on it.

mod claim;
mod deletable;
mod enqueue;
pub mod figures;
#[cfg(test)]
mod figures_history;
pub mod profiles;
mod record;
mod recover;
mod row;
mod set_aside;

pub use claim::{Claimed, claim, has_due};
pub use deletable::KEPT_FOR_ORDER;
pub use enqueue::{NewRow, enqueue};
pub use figures::Counts;
pub use record::{Decision, RowResult, record};
pub use recover::release_in_flight;
pub use row::{ClaimedRow, State, column_text};
