//! The SQLite database: opening it with explicit settings, its schema, and the single-daemon lock.

mod connect;
mod lock;

pub use connect::{Durability, OpenMode, migrate, open};
pub use lock::{InstanceLock, LockError, is_held};
