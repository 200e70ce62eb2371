//! A quota pool shared by several hosts through PostgreSQL (docs/quota.md, "Pool").

mod connect;
mod error;
mod grant;
mod host;
mod offline;
mod schema;
mod status;

pub use connect::{POOL_TIMEOUT, connect, connect_options};
pub use error::PoolError;
pub use grant::{Grant, GrantRequest, grant};
pub use host::{Drawn, PoolQuota, PoolReservation, open_for_delivery};
pub use offline::{Member, OfflineLedger};
pub use schema::{init, remove, set_limit};
pub use status::{HostStatus, PoolStatus, status};
