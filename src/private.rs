//! Support for the code `#[runner::main]` and `#[runner::test]` generate.
//! Not public API: no stability promise.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use crate::Runner;

/// How many runner-task panics were reported as never retrieved (counted in
/// debug mode only).
pub fn lost_panics(runner: &Runner) -> usize {
    runner
        .shared()
        .debug
        .as_ref()
        .map_or(0, |d| d.lost_panics.load(Ordering::Acquire))
}

/// The tasks `close` reported still pending (debug mode only), as
/// "`name` spawned at file:line:col".
pub fn left_pending(runner: &Runner) -> Vec<String> {
    runner
        .shared()
        .debug
        .as_ref()
        .map_or_else(Vec::new, |d| d.registry.left_pending())
}
