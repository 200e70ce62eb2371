//! A history drawn from a seed: the daemon's settings and a list of steps (producers' rows, rounds
//! of delivery, crashes, restarts, operators' commands, token changes, faults at Target, time
//! jumps). Drawn whole before it runs, so the minimiser can replay any subset of its steps.

use crate::rows::{RowMaker, RowSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The settings a history runs with, written into a config file and loaded by the real loader.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub calls_per_day: u32,
    pub coalesce: bool,
    pub max_rows_per_call: u32,
    pub post: bool,
    pub concurrency: u32,
    pub batch_size: u32,
    pub max_attempts: u32,
    /// Target requires a token.
    pub auth: bool,
}

/// How Target behaves apart from what a row's own content makes it answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Faults {
    /// Every request is answered 200 at once.
    None,
    /// Now and then a slow answer, a 429 or a 500.
    Light,
    /// Every answer takes 5 to 60 seconds: a round's requests reach Target minutes after it began.
    Slow,
    /// Every fault often: 429/503 with and without `Retry-After`, 500, resets, hangs, 400s,
    /// slow answers.
    Heavy,
}

/// An operator's command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admin {
    /// `retry` of one failed row, picked by its rank among the failed rows.
    Retry(usize),
    /// `cancel` of one pending or failed row, by rank.
    Cancel(usize),
    /// `purge` of delivered and cancelled rows.
    Purge,
}

/// One step of a history.
#[derive(Clone, Debug)]
pub enum Step {
    /// A producer inserts rows in one transaction.
    Insert(Vec<RowSpec>),
    /// The delivery loop runs until it finds nothing to do, in one or two lanes. `crash_after`:
    /// the process dies after that many polls of the loop. `admin`: an operator's command runs
    /// once Target has received the step's first request (while rows are in flight).
    Deliver {
        lanes: u8,
        crash_after: Option<u32>,
        admin: Option<Admin>,
    },
    Admin(Admin),
    /// Target starts accepting a new token (the old one fails at once); the daemon is told after
    /// `told_after` more steps (it may be a restart that reads the file).
    NewToken {
        told_after: u8,
    },
    Faults(Faults),
    /// Simulated time passes.
    Advance(i64),
    /// The daemon stops cleanly and starts again.
    Restart,
}

/// A whole history.
#[derive(Clone, Debug)]
pub struct History {
    pub seed: u64,
    pub config: SimConfig,
    pub steps: Vec<Step>,
}

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

impl History {
    /// The history of `seed`.
    pub fn generate(seed: u64) -> History {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = SimConfig {
            calls_per_day: [1, 3, 3, 10, 10, 50, 50, 1_000_000, 1_000_000, 1_000_000]
                [rng.random_range(0..10)],
            coalesce: rng.random_bool(0.7),
            max_rows_per_call: [2, 3, 50][rng.random_range(0..3)],
            post: rng.random_bool(0.2),
            concurrency: [1, 2, 8, 8][rng.random_range(0..4)],
            batch_size: [1, 4, 4, 16, 64][rng.random_range(0..5)],
            max_attempts: rng.random_range(2..=3),
            auth: rng.random_bool(0.5),
        };
        let mut maker = RowMaker::new(&mut rng);
        let count = rng.random_range(6..=24);
        let steps = (0..count).map(|_| step(&mut rng, &mut maker)).collect();
        History {
            seed,
            config,
            steps,
        }
    }
}

fn step(rng: &mut StdRng, maker: &mut RowMaker) -> Step {
    match rng.random_range(0..100) {
        0..=29 => {
            let rows = rng.random_range(1..=4);
            Step::Insert((0..rows).map(|_| maker.row(rng)).collect())
        }
        30..=59 => Step::Deliver {
            lanes: rng.random_range(1..=2),
            crash_after: rng.random_bool(0.2).then(|| rng.random_range(1..=40)),
            // Not a purge: the checker knows what a purge deleted only when nothing runs beside it.
            admin: rng
                .random_bool(0.1)
                .then(|| admin(rng))
                .filter(|a| *a != Admin::Purge),
        },
        60..=66 => Step::Admin(admin(rng)),
        67..=69 => Step::NewToken {
            told_after: rng.random_range(0..=3),
        },
        70..=79 => Step::Faults(match rng.random_range(0..4) {
            0 => Faults::None,
            1 => Faults::Light,
            2 => Faults::Slow,
            _ => Faults::Heavy,
        }),
        80..=95 => Step::Advance(match rng.random_range(0..4) {
            0 => rng.random_range(1_000..MINUTE),
            1 => rng.random_range(MINUTE..60 * MINUTE),
            2 => rng.random_range(60 * MINUTE..DAY),
            _ => DAY + rng.random_range(-2 * MINUTE..2 * MINUTE),
        }),
        _ => Step::Restart,
    }
}

fn admin(rng: &mut StdRng) -> Admin {
    match rng.random_range(0..10) {
        0..=5 => Admin::Retry(rng.random_range(0..4)),
        6..=8 => Admin::Cancel(rng.random_range(0..8)),
        _ => Admin::Purge,
    }
}
