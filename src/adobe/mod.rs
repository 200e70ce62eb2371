//! Adobe Target's single profile update API: what a valid update is, how it becomes requests,
//! how requests are sent, and what each answer means.

mod client;
mod outcome;
mod problem;
mod request;
mod sandbox;
#[cfg(feature = "test-hooks")]
mod simulated;
mod update;
mod visitor;

pub use client::{TargetClient, read_ca_file};
pub use outcome::{Check, Outcome, TIMED_OUT, classify, classify_check, parse_retry_after};
pub use problem::RowProblem;
pub use request::{Endpoint, GET_LIMIT_BYTES, POST_LIMIT_BYTES, PreparedRequest, prepare};
pub use sandbox::{SUCCESS_BODY, Sandbox};
#[cfg(feature = "test-hooks")]
pub use simulated::{SimulatedAnswer, SimulatedTarget};
pub use update::ProfileUpdate;
pub use visitor::VisitorId;
