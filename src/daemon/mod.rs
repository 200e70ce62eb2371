//! `run`, from start-up to shutdown.

mod endpoint;
mod run;
mod start;
mod status_line;
mod watchdog;

pub use endpoint::Destination;
pub use run::run;
pub use start::{Started, start};
