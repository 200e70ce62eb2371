//! Keeping the database bounded for years without anyone looking: pruning old finished rows,
//! checkpointing the WAL, and the optional cap on waiting rows.

mod limit;
mod prune;

pub use limit::apply_pending_limit;
pub use prune::{checkpoint, prune, run};
