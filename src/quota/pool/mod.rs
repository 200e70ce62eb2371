//! A quota pool shared by several hosts through PostgreSQL (docs/quota.md, "Pool").

mod connect;
mod error;
mod grant;
mod host;
mod offline;
mod schema;
mod status;
mod view;

pub use connect::{POOL_TIMEOUT, address, connect, connect_options};
pub use error::PoolError;
pub use grant::{Grant, GrantRequest, OfflineReport, grant};
pub use host::{Drawn, PoolQuota, PoolReservation, open_for_delivery};
pub use offline::{Member, OfflineLedger};
pub use schema::{init, remove, set_limit};
pub use status::{HostStatus, OFFLINE_AFTER_SECS, OfflineSpan, PoolStatus, status};
pub use view::{
    PoolView, PoolViewDoc, attention as pool_attention, forget as forget_view, read as read_view,
    render_metrics, render_pool,
};
