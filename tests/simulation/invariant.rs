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

/// Invariants today's code breaks (issue 10). A history that breaks only these does not fail the
/// test; the test prints how many histories broke each. Empty this list as the fixes land.
pub const KNOWN_BROKEN: &[Invariant] = &[
    // A merged update split in two, part 2 refused: rows then go alone and the older one
    // overwrites the newer value (issue 10, defect 3).
    Invariant::OlderAfterNewer,
    // Calls booked when the round starts, not when they are sent (defect 6).
    Invariant::QuotaWindow,
    // Numbers pass through f64 (defect 8).
    Invariant::ExactValues,
    // A BLOB visitor id halts every claim (defect 1); a poison request pauses everyone (defect 5).
    Invariant::Liveness,
    // The hot spin when fewer calls are left than the first group needs (defect 2).
    Invariant::BusyLoop,
];

/// One broken promise in one history.
#[derive(Clone, Debug)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}
