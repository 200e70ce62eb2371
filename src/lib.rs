//! profile-outbox delivers offline visitor events from a SQLite outbox table to Adobe Target's
//! single profile update API, so that no event is lost and Target's quota is never passed.
//!
//! # Layout
//!
//! Data flows: outbox → claim → check → gate and rate limit → send → decide → record.
//!
//! - [`outbox`]: the table producers write into, one file per operation on it: `enqueue`,
//!   `claim` (due rows, each visitor's oldest first), `record` (a batch of outcomes in one
//!   transaction) and `recover` (rows a crash left in flight go back to pending).
//! - [`target`]: Target's API. `visitor` and `update` check a row against Target's limits;
//!   `request` builds percent-encoded requests, split to fit the size limit; `client` sends them;
//!   `outcome` classifies every answer in one function; `sandbox` is a local stand-in for trying
//!   the daemon.
//! - [`delivery`]: the loop. `deliverer` exposes one unit of work (`run_once`: claim, send, record
//!   one batch) and the loop around it; `policy` turns an outcome into the row's next state;
//!   `gate` pauses everyone on slow-down, outage or a refused token; `backoff` is the pure delay.
//! - [`db`]: opening SQLite with explicit, read-back settings; the schema in `migrations/`; the
//!   lock that keeps a second daemon off the same database.
//! - [`config`]: typed settings from built-in defaults, a TOML file and environment variables.
//! - [`daemon`]: `run` from start-up to shutdown. [`cli`]: the subcommands. [`clock`],
//!   [`logging`], [`shutdown`]: time, log output and signals.

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod db;
pub mod delivery;
pub mod logging;
pub mod outbox;
pub mod shutdown;
pub mod target;
