//! `run`, from start-up to shutdown.

mod endpoint;
mod run;
mod start;
mod status_line;

pub use endpoint::Destination;
pub use run::run;
