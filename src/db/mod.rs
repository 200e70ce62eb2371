//! The SQLite database: opening it with explicit settings, its schema, and the single-daemon lock.

mod connect;
mod lock;
#[cfg(test)]
pub mod scratch;

pub use connect::{
    DELIVERY_AUTOCHECKPOINT_PAGES, Durability, OpenMode, migrate, open, open_for_delivery,
};
pub use lock::{InstanceLock, LockError, is_held};
