//! The promises every history is checked against, and the list of those known to be broken on
//! today's code. Each is judged from what the fake Target received, never from the daemon's
//! tables alone.

use std::fmt;

/// One promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// Per visitor and attribute, Target never applied an older row's value after a newer row's.
    OlderAfterNewer,
    /// No rolling 24 hours of received requests holds more than `quota.calls_per_day`.
    QuotaWindow,
    /// Every committed row ends delivered, failed with a reason, cancelled, or pending and
    /// deliverable; none is lost; none is delivered without Target applying its values (or a
    /// newer row's); a deliverable row fails only after Target refused it.
    RowAccounting,
    /// Every value Target received is a value a row of that visitor carried, exactly as the
    /// producer wrote it, and no request carries a parameter no row asked for.
    ExactValues,
    /// Once faults stop, every row comes to rest (delivered, failed or cancelled) within a bounded
    /// simulated time.
    Liveness,
    /// Rounds that claim rows while no request goes out and no row finishes stay few per
    /// simulated second.
    BusyLoop,
}

impl Invariant {
    pub const ALL: [Invariant; 6] = [
        Invariant::OlderAfterNewer,
        Invariant::QuotaWindow,
        Invariant::RowAccounting,
        Invariant::ExactValues,
        Invariant::Liveness,
        Invariant::BusyLoop,
    ];
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Invariants the code is known to break. Empty: every defect issue 10 named is fixed, so a
/// history that breaks any invariant fails the test. Should a new defect be found and not fixed at
/// once, name it here with the issue that tracks it; the test then prints how many histories broke
/// it instead of failing.
pub const KNOWN_BROKEN: &[Invariant] = &[];

/// One broken promise in one history.
#[derive(Clone, Debug)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}
