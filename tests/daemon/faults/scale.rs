//! How big each case runs: small in the normal test run, large in the soak
//! (`PROFILE_OUTBOX_SOAK=1`, set by `scripts/soak.sh`).

/// Sizes of the fault cases.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub kills: usize,
    pub producer_rows: usize,
    pub lock_hold_secs: u64,
    pub network_rows: usize,
    pub hostile_rows: usize,
}

pub fn scale() -> Scale {
    if std::env::var_os("PROFILE_OUTBOX_SOAK").is_some() {
        Scale {
            kills: 1_000,
            producer_rows: 25_000,
            lock_hold_secs: 30,
            network_rows: 10_000,
            hostile_rows: 100_000,
        }
    } else {
        Scale {
            kills: 50,
            producer_rows: 1_000,
            lock_hold_secs: 3,
            network_rows: 150,
            hostile_rows: 3_000,
        }
    }
}
