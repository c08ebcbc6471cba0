//! Python's `asyncio.run()` and `asyncio.Runner`, on top of Tokio.
//!
//! ```
//! # fn main() -> Result<(), runner::Error> {
//! runner::run(async {
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//!     println!("hello");
//! })
//! # }
//! ```
//!
//! Tokio does the scheduling, I/O and timers; `runner` adds asyncio's rules
//! around them:
//!
//! - one running loop per thread: a nested [`run`] returns
//!   [`Error::NestedRun`] instead of panicking or deadlocking;
//! - a reusable [`Runner`] that keeps one loop and one context across runs;
//! - context variables ([`ContextVar`], [`Context`], PEP 567) that every task
//!   spawned with [`spawn`], [`spawn_local`] or [`spawn_blocking`] inherits as
//!   a copy;
//! - Ctrl-C: the first press cancels the main task and lets its cleanup run,
//!   the second kills the process even if the loop is stuck;
//! - a debug mode ([`Builder::debug`], `RUNNER_DEBUG=1`) that reports slow
//!   polls and leaked tasks, and panics nobody retrieved (always reported);
//! - an orderly [`Runner::close`]: leftover tasks cancelled, blocking pool
//!   shut down with a timeout;
//! - [`#[runner::main]`](macro@main) and [`#[runner::test]`](macro@test),
//!   drop-in for Tokio's attributes, the test one with a real-clock
//!   `timeout` and failing on task panics nobody retrieved.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod context;
mod debug;
mod error;
mod guard;
#[doc(hidden)]
pub mod __private {
    //! Not public API.
    pub use crate::private::*;
}
mod private;
mod runner;
mod signal;
pub mod task;

pub use context::{Context, ContextError, ContextVar, Scope, SetGuard, Token, copy_context};
pub use error::Error;
pub use runner::{Builder, Runner, run};
pub use signal::interrupted;
pub use task::{JoinHandle, spawn, spawn_blocking, spawn_local};

pub use runner_macros::{main, test};
