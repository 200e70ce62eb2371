//! Time: the host's clocks, and the daemon's own timeline built on them.

mod source;
mod timeline;

pub use source::{Clock, WALL_OFFSET_ENV, millis};
pub use timeline::{Anchor, Timeline};
