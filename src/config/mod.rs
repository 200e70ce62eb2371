//! Typed settings, loaded once from embedded defaults, a TOML file and the environment.

mod duration;
mod explain;
mod load;
mod pool;
mod rules;
mod secret;
mod settings;

pub use load::{DEFAULT_CONFIG_PATH, ENV_PREFIX, load};
pub use pool::{PoolPassword, PoolSettings, parse_url as parse_pool_url};
pub use rules::TARGET_CALLS_PER_DAY;
pub use secret::Token;
pub use settings::{
    ClientCode, DatabaseSettings, LogFormat, LogSettings, Method, MetricsSettings, QuotaSettings,
    RetrySettings, Settings, TargetSettings, WorkerSettings,
};
