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
//!   a copy, and the `tracing` span current at the spawn, which the task runs
//!   in ([`Builder::inherit_span`]);
//! - Ctrl-C: the first press cancels the main task and lets its cleanup run
//!   ([`interrupted`] and [`interrupt_token`] for a graceful part with a
//!   deadline), the second kills the process even if the loop is stuck; a
//!   program that installs its own Ctrl-C handler keeps it; in debug mode
//!   on Unix, SIGQUIT (Ctrl-\\) prints the task dump and the program goes
//!   on;
//! - a debug mode ([`Builder::debug`], or `RUNNER_DEBUG` set to anything
//!   but `0`, `false`, `off`, `no` or empty, in any case) that reports slow
//!   polls (while they still hold their thread, and when they return),
//!   tasks awaiting each other in a cycle, leaked tasks and lost wakers, and
//!   panics nobody retrieved (always reported, or ending the run with
//!   [`LostPanic::CancelMain`]); [`task::dump`] says what every task is
//!   doing and awaiting;
//! - cancellation you can clean up after, as asyncio's `CancelledError`: a
//!   task that listens ([`task::cancelled`], [`task::is_cancelled`]) may
//!   still `await` its cleanup when asked to cancel
//!   ([`JoinHandle::cancel`], Ctrl-C, close), and [`TaskGroup`] gives
//!   asyncio's structured concurrency;
//! - an orderly [`Runner::close`]: leftover tasks cancelled (those that
//!   listen awaited within a grace), blocking pool shut down with a timeout;
//! - [`#[runner::main]`](macro@main) and [`#[runner::test]`](macro@test),
//!   drop-in for Tokio's attributes, the test one with a real-clock
//!   `timeout` (printing the task dump when it expires) and failing at once
//!   on task panics nobody retrieved.
//!
//! # The loop
//!
//! A runner's loop is a Tokio current-thread runtime plus a
//! [`LocalSet`](tokio::task::LocalSet), built on first use. The main task
//! (the future given to `run`) runs on the calling thread and need not be
//! `Send` or `'static`. Any runtime can be supplied through
//! [`Builder::runtime`]; with a multi-thread one, [`spawn`]ed tasks run on
//! its workers while the main task and [`spawn_local`] tasks stay on the
//! calling thread. The `LocalSet` is entered for the whole of each run, so
//! [`spawn_local`] works from every task the loop's thread polls (asyncio's
//! `create_task` works from any task).
//!
//! # Coming from asyncio
//!
//! | asyncio | runner |
//! |---|---|
//! | `asyncio.run(main())` | [`runner::run(main())`](run) |
//! | `asyncio.Runner()` | [`Runner::new()`](Runner::new), [`Runner::builder()`](Runner::builder) |
//! | `Runner.run(coro)` | [`Runner::run`] |
//! | `Runner.run(coro, context=ctx)` | [`Runner::run_in`] |
//! | `Runner.get_loop()` | [`Runner::handle`] |
//! | `Runner.close()`, `with Runner():` | [`Runner::close`], `Drop` |
//! | `Runner(loop_factory=...)` | [`Builder::runtime`] |
//! | `Runner(debug=True)`, `PYTHONASYNCIODEBUG=1` | [`Builder::debug`], `RUNNER_DEBUG=1` |
//! | `loop.slow_callback_duration` | [`Builder::slow_poll_threshold`] |
//! | `asyncio.create_task(coro)` | [`spawn_local`] (any future), [`spawn`] (`Send`) |
//! | `task.cancel()` | [`JoinHandle::cancel`] (`abort` drops at once) |
//! | `except asyncio.CancelledError: await cleanup()` | [`task::cancelled`] in a `select!`, or [`task::is_cancelled`], then the cleanup's `.await`s |
//! | `async with asyncio.TaskGroup() as tg: tg.create_task(c)` | [`TaskGroup::new`], [`TaskGroup::spawn`], [`TaskGroup::join`] |
//! | `ExceptionGroup` from a `TaskGroup` | [`GroupError`] |
//! | `asyncio.run` cancelling and awaiting leftover tasks | [`Runner::close`] (so [`run`] and the attributes), within [`Builder::cancel_grace`] |
//! | `asyncio.to_thread(f)` | [`spawn_blocking`] |
//! | `contextvars.ContextVar("x", default=d)` | [`ContextVar::new`], [`ContextVar::with_default`] |
//! | `var.get()`, `var.set(v)`, `var.reset(token)` | [`ContextVar::get`], [`ContextVar::set`], [`ContextVar::reset`] |
//! | `with var.set(v):` (3.14) | [`ContextVar::set_scoped`] |
//! | `contextvars.copy_context()`, `Context()` | [`copy_context`], [`Context::new`] |
//! | `ctx.run(f)`, `ctx[var]` | [`Context::run`], [`Context::get`] |
//! | `KeyboardInterrupt` from `run` | [`Error::Interrupted`] |
//! | `RuntimeError: ... cannot be called from a running event loop` | [`Error::NestedRun`] |
//! | "Task exception was never retrieved" | an ERROR event under the `runner` target |
//!
//! # Cancellation
//!
//! Rust cancels a future by dropping it, so cleanup is synchronous `Drop`;
//! asyncio raises `CancelledError` at the task's await point, so cleanup may
//! `await`. runner has both. A task that *listens* (it has called
//! [`task::cancelled`] or [`task::is_cancelled`], or awaits
//! [`TaskGroup::join`]) is asked rather than dropped: the request completes
//! `cancelled()`, and the task runs its cleanup, awaits included, until it
//! ends or its [`Builder::cancel_grace`] (default 30 s) expires; then it is
//! dropped. A task that never listens is dropped at once, as before, and
//! nothing ever waits for it. Requests come from [`JoinHandle::cancel`]
//! (asyncio's `Task.cancel()`; [`JoinHandle::abort`] stays the immediate
//! drop), a [`TaskGroup`] whose child failed, [`Runner::close`] for every
//! task still alive (asyncio.run's cancel-then-await of leftovers), and the
//! first Ctrl-C for the main task.
//!
//! ```
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), runner::Error> {
//! let mut runner = runner::Runner::new();
//! runner.run(async {
//!     runner::spawn(async {
//!         runner::task::cancelled().await;
//!         // asyncio's `except CancelledError:` cleanup, which may await.
//!         tokio::time::sleep(Duration::from_millis(1)).await;
//!         println!("flushed and said goodbye");
//!     });
//!     tokio::task::yield_now().await; // the task starts listening
//! })?;
//! runner.close(); // asks the task to cancel and awaits its cleanup
//! # Ok(())
//! # }
//! ```
//!
//! # Coming from Tokio
//!
//! | Tokio | runner |
//! |---|---|
//! | `#[tokio::main]` | [`#[runner::main]`](macro@main) (same arguments, plus runner's; the default flavor is `current_thread`, not `multi_thread`: add `flavor = "multi_thread"` to keep Tokio's) |
//! | `#[tokio::test]` | [`#[runner::test]`](macro@test) (plus `timeout = "5s"`, fails on lost panics) |
//! | `Runtime::block_on` + `LocalSet` | [`run`], [`Runner::run`] |
//! | `tokio::spawn`, `spawn_local`, `spawn_blocking` | [`spawn`], [`spawn_local`], [`spawn_blocking`]: the same, plus context inheritance (raw Tokio tasks run in the loop's own context: see below) |
//! | `tokio::task_local!` | [`ContextVar`]: inherited by spawned tasks, settable anywhere |
//! | `tokio::signal::ctrl_c()` in `main` | keeps working: a program's own Ctrl-C handler gets every press (no cancellation, no kill); for runner's protocol instead (first press cancels the main task, second kills), drop it and use [`interrupt_token`] or [`interrupted`] with [`Builder::interrupt_grace`] |
//! | `Runtime::shutdown_timeout` | [`Builder::shutdown_timeout`], applied by [`Runner::close`] |
//!
//! Raw `tokio::spawn` (and Tokio's `spawn_local`) keeps working inside a
//! runner but does not copy the context. Its task sees neither the context
//! of the thread that called `run` nor the main task's, and what it sets
//! reaches neither: on the loop's thread it runs in the loop's own context,
//! empty when the loop is built, entered for each run, shared by every raw
//! task polled there (what one sets, the next one sees) and dropped at
//! close; on a multi-thread runtime's workers it runs in the worker
//! thread's own context, which starts empty and is likewise shared by the
//! raw tasks that worker polls. Use [`spawn`] where context should follow.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod cancel;
mod context;
mod current;
mod debug;
mod error;
mod event_loop;
#[doc(hidden)]
pub mod __private {
    //! Not public API.
    pub use crate::private::*;
}
mod private;
mod runner;
mod shared;
mod signal;
mod sync;
pub mod task;

pub use context::{Context, ContextError, ContextVar, Scope, SetGuard, Token, copy_context};
pub use error::Error;
pub use runner::{Builder, LostPanic, Runner, run};
pub use signal::{interrupt_token, interrupted};
pub use task::{GroupError, JoinHandle, TaskGroup, spawn, spawn_blocking, spawn_local};

pub use runner_macros::{main, test};
