//! Integration tests: the daemon against our fake Target on 127.0.0.1. One test binary, one
//! helper module; every test gets a fresh database. Set TEST_LOG=1 to see the daemon's logs.

mod admin_changes;
mod admin_enqueue;
mod admin_helpers;
mod admin_open;
mod admin_order;
mod admin_rows;
mod admin_status;
mod answers;
mod coalescing;
mod config_files;
mod delivery;
mod exact_values;
mod fake_target;
mod faults;
mod helpers;
mod hostile_answers;
mod lanes;
mod ordering;
mod pool_daemons;
mod processes;
mod producer;
mod producers;
mod profile_check;
mod promises;
mod quota;
mod readme_errors;
mod sandbox;
mod service;
mod storage_classes;
mod tls;
mod watchdog;
