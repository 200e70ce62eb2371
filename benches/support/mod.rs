//! Shared pieces of the pipeline benchmark: the loopback stand-in for Target, the daemon as a
//! child process, prepared databases, readings from /proc, statistics and the printed report.

pub mod daemon;
pub mod database;
pub mod proc_stats;
pub mod report;
pub mod stand_in;
pub mod stats;
