//! Time: the host's clocks, the tests' manual clock (feature `test-hooks`), and the daemon's own
//! timeline built on them.

#[cfg(feature = "test-hooks")]
mod manual;
mod source;
mod timeline;

#[cfg(feature = "test-hooks")]
pub use source::WALL_OFFSET_ENV;
pub use source::{Clock, millis};
pub use timeline::{Anchor, Timeline};
