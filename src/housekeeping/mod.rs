//! Keeping the database bounded for years without anyone looking: pruning old finished rows,
//! checkpointing the WAL (after every delivered batch, and truncating it every ten minutes), and
//! the optional cap on waiting rows.

mod limit;
mod prune;
mod wal;

pub use limit::apply_pending_limit;
pub use prune::{checkpoint, prune, run};
pub use wal::WalCheckpointer;
