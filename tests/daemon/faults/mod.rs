//! The fault suite: crashes, producers, network and Target faults, a full disk, clock steps and
//! hostile input, each run ending with the same checker. The normal test run uses the fast sizes;
//! `scripts/soak.sh` runs the same cases at the soak sizes and prints their figures.

mod bad_input;
mod checker;
mod clock;
mod crash_loop;
mod disk;
mod network;
mod producers;
mod scale;
