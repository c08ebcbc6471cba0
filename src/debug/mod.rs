//! Debug mode, and the reports that are on even without it: everything
//! `runner` does to say what a program's tasks are doing and what went
//! wrong. The rest of the crate calls in here; nothing here calls out to
//! the loop, the runner or the spawn functions.
//!
//! - `report.rs`: the `tracing` events (slow polls, lost panics, lost wakers,
//!   leftovers at close, misuse) and the environment switches;
//! - `meta.rs`: a task's name and spawn site as debug mode records them;
//! - `track.rs`: what debug mode follows per task while it lives (poll
//!   state and clock, parent, live wakers);
//! - `awaits.rs`: which task awaits which through `JoinHandle`s, and the
//!   deadlock a cycle of awaits is;
//! - `registry.rs`: a runner's live tasks, for the report at close and the
//!   dump;
//! - `dump.rs`: [`TaskDump`](crate::task::TaskDump), the snapshot
//!   `runner::task::dump()` returns;
//! - `lost.rs`: panics nobody retrieved (reported always, debug mode or not);
//! - `stop.rs`: failing fast (`LostPanic::CancelMain`): stopping the main
//!   task from elsewhere;
//! - `watchdog.rs`: the thread that names a poll holding its thread while
//!   it still does.
#![forbid(unsafe_code)]

pub(crate) mod awaits;
pub(crate) mod dump;
pub(crate) mod lost;
pub(crate) mod meta;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod stop;
pub(crate) mod track;
pub(crate) mod watchdog;

pub(crate) use report::*;
