//! The quota pool against a real PostgreSQL server that this test binary starts itself (once,
//! shared; each test gets a database of its own). Needs PostgreSQL's server binaries (Debian:
//! the `postgresql` package).

mod cli;
mod grants;
mod hosts;
mod server;
