//! Target's rolling 24-hour limit, kept as a ledger in SQLite so it survives restarts and crashes.

pub(crate) mod ledger;
pub mod pool;
mod window;

pub use ledger::{Reservation, Usage, free_for, refund, reserve, usage};
pub use window::{
    BUCKET_MS, WINDOW_BUCKETS, booking, bucket_of, first_bucket_in_window, free_at,
    leaves_window_at, next_free_at,
};
