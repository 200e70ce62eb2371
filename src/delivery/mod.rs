//! The delivery loop: claim due rows, check them, wait for the rate limit and the gate, send,
//! decide what each answer means for the row, record it.

mod backoff;
mod deliverer;
mod gate;
mod policy;

pub use backoff::backoff;
pub use deliverer::{BatchReport, Deliverer};
pub use gate::{Allowance, Gate, PauseReason};
pub use policy::{decide, problem_decision};
