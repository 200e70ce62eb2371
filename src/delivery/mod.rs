//! The delivery loop: claim due rows (grouped per visitor), check them, reserve quota, wait for
//! the rate limit and the gate, send, decide what each answer means for each row, record it.

mod backoff;
mod crash;
mod deliverer;
mod gate;
mod group;
mod heartbeat;
mod policy;
mod sender;
mod settle;
mod store;
mod suspects;

pub use backoff::backoff;
#[cfg(feature = "test-hooks")]
pub use crash::CRASH_ENV;
pub use crash::{CrashPlan, CrashPoint};
pub use deliverer::{BatchReport, Deliverer};
pub use gate::{Allowance, Gate, PauseReason, Verdict};
pub use group::{Part, Plan};
pub use heartbeat::Heartbeat;
pub use policy::{decide, problem_decision};
pub use sender::{Attempt, Lookup, Sender};
pub use settle::{NO_PROFILE, Progress};
pub use store::{Reserved, Store, Write};
pub use suspects::{STRIKES_TO_FAIL, Suspects};
