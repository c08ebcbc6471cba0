//! The event loop under a runner: a Tokio runtime plus a [`LocalSet`] that
//! is entered for the whole of each run, so that `spawn_local` works from
//! every task the loop's thread polls (asyncio's `create_task` works from
//! any task), whatever spawned it.
//!
//! The loop also has a context of its own, entered for the whole of each
//! run (and around the close that drops its tasks): what a raw Tokio task,
//! which carries no context, runs in on the loop's thread. So a raw task
//! sees neither the context of the thread that calls `run` nor the main
//! task's, and what it sets stays in the loop's context (shared by the raw
//! tasks polled there, dropped with the loop). Runner tasks and the main
//! task enter their own contexts over it.
//!
//! Why not Tokio's `LocalRuntime`: measured with callgrind on Tokio 1.54,
//! spawning and awaiting 100,000 local tasks costs 10% more instructions on
//! a `LocalRuntime` than in a `LocalSet`, and its shutdown waits for the
//! blocking pool before it drops the tasks, so a leftover task holding what
//! blocking work waits for would hold `close` for the whole shutdown
//! timeout. asyncio cancels the tasks first; so does this loop.
#![forbid(unsafe_code)]

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio::task::LocalSet;

use crate::context::TaskContext;
use crate::current;

/// A closure that builds the runtime (asyncio's `loop_factory`).
pub(crate) type RuntimeFactory = Box<dyn FnOnce() -> io::Result<Runtime>>;

/// The output of a future that never completes.
enum Never {}

/// A runtime and the `LocalSet` where the loop's local tasks live.
pub(crate) struct EventLoop {
    /// The Tokio runtime that does the work.
    runtime: Runtime,
    /// Where `spawn_local` tasks live; entered while a run goes on.
    local: LocalSet,
    /// The loop's own context, empty at first: current on the loop's thread
    /// while a run goes on, so raw Tokio tasks polled there run in it.
    context: TaskContext,
}

impl EventLoop {
    /// Builds the loop with `factory`, or a current-thread runtime with every
    /// driver enabled. A panicking factory panics here.
    pub(crate) fn build(factory: Option<RuntimeFactory>) -> io::Result<EventLoop> {
        let runtime = match factory {
            Some(factory) => factory()?,
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        };
        Ok(EventLoop {
            runtime,
            local: LocalSet::new(),
            context: TaskContext::default(),
        })
    }

    /// The runtime's handle.
    pub(crate) fn handle(&self) -> &Handle {
        self.runtime.handle()
    }

    /// Drives the loop until `main` completes, on this thread, in the loop's
    /// context.
    pub(crate) fn block_on<F: Future>(&mut self, main: F) -> F::Output {
        let EventLoop {
            runtime,
            local,
            context,
        } = self;
        let _local = local.enter();
        let _context = context.enter();
        if runtime.handle().runtime_flavor() == RuntimeFlavor::CurrentThread {
            let _local_loop = current::enter_local_loop();
            return runtime.block_on(local.run_until(main));
        }
        // A multi-thread runtime: the main task may call `block_in_place`, as
        // the body of `#[tokio::main]` may, but not inside the `LocalSet`'s
        // own poll, which forbids it. So the main task is polled beside the
        // `LocalSet`. (On a current-thread runtime `block_in_place` is never
        // allowed, and `run_until` is cheaper: no wake-up per `spawn_local`.)
        let local_tasks = poll_fn(|cx| {
            // Ready means "no local task left"; more may be spawned later.
            let _ = Pin::new(&mut *local).poll(cx);
            Poll::<Never>::Pending
        });
        runtime.block_on(async move {
            tokio::select! {
                biased;
                output = main => output,
                never = local_tasks => match never {},
            }
        })
    }

    /// Drives the loop until `done` completes or `limit` has passed (the
    /// tasks that listen for cancellation finishing their cleanup at close).
    pub(crate) fn run_until(&mut self, done: impl Future<Output = ()>, limit: Duration) {
        let _in_runtime = self.runtime.enter();
        let limit = tokio::time::sleep(limit);
        self.block_on(async {
            tokio::select! {
                () = done => {}
                () = limit => {}
            }
        });
    }

    /// Cancels every task (the local ones first, inside the runtime so their
    /// `Drop` may still use it), then shuts the blocking pool down, waiting
    /// up to `timeout` for work still running. Raw tasks are dropped in the
    /// loop's context, as they ran.
    pub(crate) fn shutdown(self, timeout: Duration) {
        let EventLoop {
            runtime,
            local,
            mut context,
        } = self;
        let _context = context.enter();
        {
            let _in_runtime = runtime.enter();
            drop(local);
        }
        runtime.shutdown_timeout(timeout);
    }

    /// Shuts down without waiting for anything, where waiting is impossible.
    pub(crate) fn shutdown_background(self) {
        let EventLoop { runtime, local, .. } = self;
        drop(local);
        runtime.shutdown_background();
    }

    /// Leaks the loop: what is left when even dropping it cannot work (at
    /// thread exit, after the thread's thread-locals: DESIGN.md, "A runner
    /// in a thread-local"). Bounded: this one loop, once per exiting thread.
    pub(crate) fn abandon(self) {
        std::mem::forget(self);
    }
}
