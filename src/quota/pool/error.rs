//! What can go wrong with the pool, in kinds the host and the admin commands branch on.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the quota pool is not set up yet: run `profile-outbox pool init --limit N`")]
    NotInitialised,
    #[error("the quota pool is set up already (limit {limit}): use `pool set-limit`")]
    AlreadyInitialised { limit: i64 },
    #[error("a limit of {limit} is below the {shares} calls reserved as offline shares")]
    LimitBelowShares { limit: i64, shares: i64 },
    #[error(
        "host {host:?} asks for an offline share of {share} calls but only {free} are free in \
         the pool now"
    )]
    ShareDoesNotFit { host: String, share: i64, free: i64 },
    #[error("the quota pool did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the quota pool's database: {0}")]
    Database(#[from] sqlx::Error),
}
