//! Support for the code `#[runner::main]` and `#[runner::test]` generate;
//! not public API (no stability promise). The lib re-exports it, hidden, as
//! `runner::__private`: every name here is one the generated code uses.
//!
//! - `args.rs`: [`Args`], what the attribute was given, and how it becomes
//!   a [`Runner`](crate::Runner).
//! - `main.rs`: the body of `#[runner::main]`.
//! - `test.rs`: the body of `#[runner::test]` and its watchdog.
#![forbid(unsafe_code)]

mod args;
mod main;
mod test;

pub use args::{Args, Flavor, NeedsTokioTestUtil, RuntimeBuilder, StartPausedFallback};
pub use main::main;
pub use test::{TestBody, left_pending, lost_panics, test};
