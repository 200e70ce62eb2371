//! profile-outbox delivers offline visitor events from a SQLite outbox table to Adobe Target's
//! single profile update API, so that no event is lost and Target's quota is never passed.
//!
//! # Layout
//!
//! Data flows: outbox → claim (grouped per visitor) → check and merge → profile lookup → quota
//! reservation → gate and rate limit → send → decide → record (with the quota refund and the
//! visible state).
//!
//! - [`outbox`]: the table producers write into, one file per operation on it: `enqueue`,
//!   `claim` (due rows, each visitor's oldest first), `row` (what a claimed row is, read from
//!   whatever storage class a producer wrote), `set_aside` (claimed rows that cannot be read as
//!   text become `failed` in the claim's transaction), `record` (a batch of outcomes in one
//!   transaction), `recover` (rows a crash left in flight go back to pending), `profiles`
//!   (what the profile lookups found, remembered) and `figures` (the queue's figures for
//!   `status`, the status line and `/metrics`: rows per state kept by triggers, and the pending
//!   rows' schedule, at a cost that does not grow with the table).
//! - [`adobe`]: Adobe Target's API (named so that it cannot be taken for Cargo's build folder). `visitor` and `update` check a row against Target's limits;
//!   `request` builds percent-encoded requests, split to fit the size limit, and profile lookups;
//!   `client` sends them, trusting the host's CA store; `outcome` classifies every answer, an
//!   update's or a lookup's, in one place; `sandbox` is a local stand-in for trying the daemon.
//! - [`delivery`]: the loop and its two seams: the `store` (every read and write delivery makes
//!   to the database: claim, reserve, record) and the `sender` (client, rate limits, gate: one
//!   request at a time). `deliverer` joins them and exposes one unit of work (`run_once`: claim,
//!   send, record one batch), the same step `run` repeats and the simulation drives; beside it
//!   `deliverer/lanes` runs the loop in two lanes so that one batch is claimed or recorded while
//!   another's requests are out, `deliverer/profiles` looks visitors up before their updates,
//!   `deliverer/sending` sends the parts the quota reserved calls for, and `deliverer/visible`
//!   records a round with the visible state. `group` checks one visitor's rows and merges them
//!   into parts cut between rows; `settle` decides each row from how far its plan's sending got;
//!   `policy` turns an outcome into a row's next state; `gate` pauses everyone on slow-down,
//!   outage or a refused token, unless the answer is one `suspects` row's own doing; `heartbeat`
//!   is the loop's sign of life for the watchdog; `backoff` is the pure delay; `crash` is the
//!   fault suite's seam for stopping the process at a named point of a batch (test hooks like it,
//!   the manual clock and the instant-success and simulated Targets, are built only with the
//!   cargo feature `test-hooks`, which `cargo test` turns on and the release build does not).
//! - [`quota`]: the rolling 24-hour ledger in SQLite (`ledger`) and its pure arithmetic (`window`);
//!   with `[quota.pool]`, the `pool` shared by several hosts through PostgreSQL (grants booked on
//!   the database's clock, refunds riding on the next grant, an offline share spent from a local
//!   ledger while the pool cannot be reached; `view`, this host's view of it saved for `status`
//!   and `/metrics`, and `host/telling`, what the host tells: that view, its log line when no
//!   calls are left, its offline report to the pool).
//! - [`clock`]: the host's clocks (`source`), the tests' `manual` clock, and the daemon's
//!   `timeline`, which advances with real time only, so wall-clock steps cannot stretch or shrink
//!   the quota window.
//! - [`state`]: the daemon's visible state row (quota, pause, circuit, heartbeat) for operators.
//! - [`token_watch`]: re-reads the token file when it changes and on SIGHUP.
//! - [`housekeeping`]: prunes finished rows past their retention, checkpoints the WAL, and keeps
//!   the optional cap on waiting rows. [`metrics`]: the optional Prometheus endpoint (`registry`
//!   of `prometheus-client`, `gauges` read from `outbox::figures` at each scrape, `health` for
//!   `/healthz`, `server`).
//!   `systemd`: READY, STATUS, WATCHDOG and STOPPING notifications (through `sd-notify`).
//! - [`db`]: opening SQLite with explicit, read-back settings; the schema in `migrations/`; the
//!   lock that keeps a second daemon off the same database.
//! - [`config`]: typed settings from built-in defaults, a TOML file and environment variables,
//!   checked by `rules` and refused in sentences by `explain`.
//! - [`admin`]: what the admin commands read and change while a daemon may be running: `open`
//!   (an existing database with this binary's schema, never created or migrated, waiting for the
//!   write lock with `lock_wait`), `status`, `situation` and `explain` (why a row is where it is,
//!   in plain words), `change` and `apply` (retry, cancel: plan, then one guarded UPDATE),
//!   `newer` (a visitor's newer rows already sent), `purge` and the shared row `filter`. What
//!   they show is the commands' own: see `cli`.
//! - [`daemon`]: `run` from start-up (`start`) through the destination (`endpoint`) to the tasks
//!   around delivery (`run`), systemd's status line and its `watchdog`. [`cli`]: the subcommands
//!   and their presentation (`render` for tables fitted to the terminal, `json` and `change_doc`
//!   for `--json` documents, `output` for standard output that may be cut short), `usage` for
//!   refusals that exit 2, `sandbox` for `run --sandbox`'s own database.
//!   `words`: times and counts in plain words, for every message people read.
//!   `logging`, `shutdown`: log output (with journald's priorities) and signals.
//!   Modules that neither the tests nor the benchmarks use are `pub(crate)`, so the compiler
//!   reports what nothing calls.

pub mod admin;
pub mod adobe;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod db;
pub mod delivery;
pub mod housekeeping;
pub(crate) mod logging;
pub mod metrics;
pub mod outbox;
pub mod quota;
pub(crate) mod shutdown;
pub mod state;
pub(crate) mod systemd;
pub mod token_watch;
pub(crate) mod words;
