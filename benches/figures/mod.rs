//! One module per figure of the pipeline benchmark, in the order they are printed: each measures
//! its figure and adds its lines to the report.

pub mod ceiling;
pub mod drain;
pub mod latency;
pub mod overhead;
pub mod producer;
pub mod scale;
