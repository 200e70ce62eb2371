//! Connecting to the pool's PostgreSQL: the URL from the config, the password from a file (never
//! from the config), and a 2-second bound on everything so a hung server never stalls delivery.

use super::PoolError;
use crate::config::{PoolPassword, PoolSettings};
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

/// How long any exchange with the pool may take: connecting, or one grant's transaction.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection settings for `pool`. `PGPASSFILE` (or `~/.pgpass`) applies when no password
/// file is named.
pub fn connect_options(pool: &PoolSettings) -> anyhow::Result<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(pool.url.as_str())
        .with_context(|| format!("quota.pool.url {} is not a PostgreSQL address", pool.url))?
        .application_name("profile-outbox")
        .options([("statement_timeout", "2s"), ("lock_timeout", "2s")]);
    if let Some(path) = &pool.password_file
        && let Some(password) = PoolPassword::read_file(path)?
    {
        options = options.password(password.expose());
    }
    Ok(options.disable_statement_logging())
}

/// Where the pool is, for logs and views: `host[:port]/database`, with the socket folder or
/// host named in the query when there is one. Never the user's password, nor any other part of
/// the query.
pub fn address(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let via = url
        .query_pairs()
        .find(|(key, _)| key == "host")
        .map(|(_, value)| format!(" (host {value})"))
        .unwrap_or_default();
    format!("{host}{port}{}{via}", url.path())
}

/// Opens one connection, giving up after [`POOL_TIMEOUT`].
pub async fn connect(options: &PgConnectOptions) -> Result<PgConnection, PoolError> {
    match tokio::time::timeout(POOL_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(connected) => Ok(connected?),
        Err(_) => Err(PoolError::Timeout(POOL_TIMEOUT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_names_host_port_and_database_and_nothing_secret() {
        let url = url::Url::parse(
            "postgres://outbox:hunter2@db.example:5433/quota?password=hunter2&sslmode=require",
        )
        .expect("url");
        assert_eq!(address(&url), "db.example:5433/quota");
        let socket =
            url::Url::parse("postgres://outbox@localhost/quota?host=/run/pg").expect("url");
        assert_eq!(address(&socket), "localhost/quota (host /run/pg)");
    }
}
