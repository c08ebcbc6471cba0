//! Spawning tasks that inherit the current context, and their handles.
//!
//! Every runner task is wrapped once at spawn: the wrapper enters the task's
//! own copy of the context around each poll, carries the runner the task
//! belongs to (for debug reports and the blocking-work count of `close`),
//! records its spawn site, and notices a panic so that one nobody retrieves
//! is reported rather than lost.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! static JOB: runner::ContextVar<&str> = runner::ContextVar::new("job");
//! runner::run(async {
//!     JOB.set("nightly");
//!     // Named tasks show their name in debug-mode reports.
//!     let task = runner::task::Builder::new().name("report").spawn(async { JOB.get() })?;
//!     assert_eq!(task.await?, Some("nightly"));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })??;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;

use crate::context::TaskContext;
use crate::current;

mod cancel;
mod group;
mod handle;
mod join_error;
mod wrapper;

pub use cancel::{cancelled, is_cancelled};
pub use group::{CancelHandle, GroupError, TaskGroup};

use crate::debug::dump::Gap;
pub use crate::debug::dump::{DumpEntry, TaskDump, TaskState};
use crate::debug::lost::PanicNote;
use crate::debug::meta::TaskMeta;
use crate::shared::DumpSource;
pub use handle::JoinHandle;
use wrapper::{Ident, Outcome, Spawned};
pub(crate) use wrapper::{MainTask, watch_main_body};

/// Spawns a `Send` future onto the current runtime, in a copy of the current
/// context: [`tokio::spawn`] plus asyncio's context inheritance.
///
/// Raw `tokio::spawn` does not copy the context: its task sees whatever
/// context is current on the thread that polls it. Use this function (or
/// [`spawn_local`]) for tasks that should see the spawner's variables. The
/// task also runs inside the `tracing` span current here, unless the
/// runner opted out ([`Builder::inherit_span`](crate::Builder::inherit_span)).
///
/// # Panics
///
/// Panics if called outside a Tokio runtime, as `tokio::spawn` does.
///
/// # Examples
///
/// ```
/// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     USER.set("ada");
///     let seen = runner::spawn(async { USER.get() }).await.unwrap();
///     assert_eq!(seen, Some("ada"));
/// })
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_inner(None, Location::caller(), future)
}

#[track_caller]
fn spawn_inner<F>(
    name: Option<&str>,
    location: &'static Location<'static>,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // On a current-thread loop's own thread the `LocalSet` runs the task on
    // this same thread, as the runtime would, for less per task.
    let local = current::in_local_loop();
    let spawned = Spawned::new(name, location, local);
    let tracked = spawned.tracked();
    let task = spawned.wrap(future);
    let handle = if local {
        tokio::task::spawn_local(task)
    } else {
        tokio::spawn(task)
    };
    JoinHandle::new(handle, tracked)
}

/// Spawns a future onto the current [`LocalSet`](tokio::task::LocalSet) (a
/// runner's loop has one), in a copy of the current context: asyncio's
/// `create_task`. It runs inside the `tracing` span current here, as
/// [`spawn`]'s tasks do.
///
/// # Panics
///
/// Panics if called outside a `LocalSet`, as `tokio::task::spawn_local`
/// does.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     let shared = Rc::new(5); // not Send: fine on the loop's own thread
///     let task = runner::spawn_local(async move { *shared + 1 });
///     assert_eq!(task.await.unwrap(), 6);
/// })
/// # }
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_inner(None, Location::caller(), future)
}

#[track_caller]
fn spawn_local_inner<F>(
    name: Option<&str>,
    location: &'static Location<'static>,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let spawned = Spawned::new(name, location, true);
    let tracked = spawned.tracked();
    JoinHandle::new(tokio::task::spawn_local(spawned.wrap(future)), tracked)
}

/// Runs a blocking closure on the runtime's blocking pool, in a copy of the
/// current context: asyncio's `to_thread`.
///
/// Changes the closure makes to context variables stay in its copy. The
/// closure runs inside the `tracing` span current here, with this thread's
/// default subscriber, unless the runner opted out
/// ([`Builder::inherit_span`](crate::Builder::inherit_span)). Work
/// started here is counted, so that [`Runner::close`](crate::Runner::close)
/// can warn truthfully when its `shutdown_timeout` expires with work still
/// running.
///
/// # Panics
///
/// Panics if called outside a Tokio runtime, as
/// `tokio::task::spawn_blocking` does.
///
/// # Examples
///
/// ```
/// static REQUEST: runner::ContextVar<u32> = runner::ContextVar::new("request");
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     REQUEST.set(12);
///     let seen = runner::spawn_blocking(|| REQUEST.get()).await.unwrap();
///     assert_eq!(seen, Some(12));
/// })
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_blocking_inner(None, Location::caller(), f)
}

#[track_caller]
fn spawn_blocking_inner<F, R>(
    name: Option<&str>,
    location: &'static Location<'static>,
    f: F,
) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let runner = current::runner();
    let ident = Ident::new(name, location);
    let ctx = TaskContext::for_task();
    // Debug mode: listed in the dump, queued and then running, until done.
    let registration = runner.as_ref().and_then(|r| r.debug.as_ref()).map(|debug| {
        debug
            .registry
            .register_blocking(TaskMeta::new(name, location))
    });
    let tracked = registration.as_ref().map(|r| r.tracked().clone());
    // Counted until the closure is done, ran or not, so that `close` can
    // tell whether its shutdown timeout expired with work still running.
    let running = runner.as_ref().map(|r| r.blocking_token());
    // The closure runs on a pool thread, and a panic nobody retrieves may be
    // reported there: to the spawner's subscriber, where the run's other
    // reports go. Unless the runner opted out, the closure runs with that
    // subscriber as its default and in the spawner's span.
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    let span = wrapper::spawner_span(runner.as_ref());
    let follow = runner.as_ref().is_none_or(|r| r.inherit_span)
        && !dispatch.is::<tracing::subscriber::NoSubscriber>();
    let inner = tokio::task::spawn_blocking(move || {
        let _default = follow.then(|| tracing::dispatcher::set_default(&dispatch));
        let _span = span.as_ref().map(tracing::Span::enter);
        let _running = running;
        if let Some(registration) = &registration {
            registration.tracked().blocking_started();
        }
        let _registration = registration;
        let lost_panics = runner.as_ref().map(|r| Arc::downgrade(&r.lost_panics));
        let mut runner = runner;
        // The spawner's runner is current while the closure runs, as its
        // context is: `interrupt_token()`, `interrupted()` and `task::dump()`
        // answer there as in the runner's tasks.
        let _runner = current::enter_task(&mut runner);
        let mut ctx = ctx;
        let entered = ctx.enter();
        let outcome = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Outcome::Value(value),
            Err(payload) => {
                let message = crate::debug::panic_message(&*payload).to_owned();
                let mut panic = ident.panic(message, None);
                panic.runner = lost_panics.unwrap_or_default();
                panic.dispatch = Some(dispatch);
                Outcome::Panicked(PanicNote::new(payload, panic))
            }
        };
        drop(entered);
        // A closure that listened for cancellation is done listening.
        if let Some(state) = ctx.listener() {
            state.ended();
        }
        outcome
    });
    JoinHandle::new(inner, tracked)
}

/// Takes a snapshot of the live tasks of the runner whose loop or task calls
/// it: for each, its Tokio id where known, name, spawn site, the task that
/// spawned it, whether it is being polled right now (and for how long) or
/// idle (and since when), and the tasks whose handles it awaits. Blocking
/// work ([`spawn_blocking`]) is listed too, running on the blocking pool or
/// queued for it.
///
/// Complete in debug mode ([`Builder::debug`](crate::Builder::debug),
/// `RUNNER_DEBUG=1`). Outside debug mode nothing is tracked per task, so the
/// dump lists the main task alone and says that debug mode gives the rest.
/// Outside any runner, it is empty and says so. It never waits on a lock
/// that a stuck thread may hold: when it could not look, the dump says so.
///
/// `#[runner::test]` prints a dump when its `timeout` expires.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// let mut runner = runner::Runner::builder().debug(true).build();
/// runner.run(async {
///     let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
///     runner::task::Builder::new().name("waiter").spawn(rx).unwrap();
///     tokio::task::yield_now().await;
///     let dump = runner::task::dump();
///     let waiter = dump.iter().find(|t| t.name() == "waiter").unwrap();
///     assert!(matches!(waiter.state(), runner::task::TaskState::Idle { .. }));
///     assert_eq!(waiter.parent(), Some(0)); // the main task
///     eprintln!("{dump}");
/// })?;
/// assert!(runner::task::dump().is_empty()); // outside any runner
/// # Ok(())
/// # }
/// ```
pub fn dump() -> TaskDump {
    let Some(shared) = current::runner() else {
        return TaskDump::empty(Gap::NoRunner);
    };
    if shared.debug.is_none() {
        return match current::running_loop() {
            Some(site) => TaskDump::main_only(site),
            None => TaskDump::empty(Gap::DebugOffElsewhere),
        };
    }
    DumpSource::new(shared).dump()
}

/// Configures a task before spawning it, shaped like Tokio's (unstable)
/// `tokio::task::Builder`: today it gives the task a name, which debug-mode
/// reports show.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// runner::run(async {
///     let handle = runner::task::Builder::new().name("fetch").spawn(async { 1 })?;
///     assert_eq!(handle.await?, 1);
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })??;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Builder<'a> {
    /// The task's name, if given.
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder with no name set.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = runner::task::Builder::new();
    /// # let _ = builder;
    /// ```
    pub fn new() -> Self {
        Builder { name: None }
    }

    /// Names the task (default: unnamed).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = runner::task::Builder::new().name("worker");
    /// # let _ = builder;
    /// ```
    pub fn name(self, name: &'a str) -> Self {
        Builder { name: Some(name) }
    }

    /// Spawns a `Send` task like [`spawn`].
    ///
    /// # Errors
    ///
    /// None today; the `Result` matches Tokio's builder so code can move
    /// between them.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let h = runner::task::Builder::new().name("a").spawn(async { 1 }).unwrap();
    ///     assert_eq!(h.await.unwrap(), 1);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(spawn_inner(self.name, Location::caller(), future))
    }

    /// Spawns a task onto the current `LocalSet` like
    /// [`spawn_local`].
    ///
    /// # Errors
    ///
    /// None today; see [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Panics outside a `LocalSet`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let h = runner::task::Builder::new().name("b").spawn_local(async { 2 }).unwrap();
    ///     assert_eq!(h.await.unwrap(), 2);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Ok(spawn_local_inner(self.name, Location::caller(), future))
    }

    /// Runs a blocking closure like [`spawn_blocking`].
    ///
    /// # Errors
    ///
    /// None today; see [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let h = runner::task::Builder::new().name("c").spawn_blocking(|| 3).unwrap();
    ///     assert_eq!(h.await.unwrap(), 3);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Ok(spawn_blocking_inner(self.name, Location::caller(), f))
    }
}

#[cfg(test)]
mod tests {
    use crate::Runner;

    fn quiet_panics() {
        std::panic::set_hook(Box::new(|_| {}));
    }

    fn runner() -> Runner {
        Runner::builder().debug(true).handle_sigint(false).build()
    }

    #[test]
    fn a_panic_is_lost_whichever_comes_first_the_drop_or_the_panic() {
        quiet_panics();
        let mut runner = runner();
        runner
            .run(async {
                // Handle dropped first, panic later.
                drop(crate::spawn_local(async {
                    tokio::task::yield_now().await;
                    panic!("after the drop");
                }));
                // Panic first, handle dropped later, unread.
                let handle = crate::spawn(async { panic!("before the drop") });
                while !handle.is_finished() {
                    tokio::task::yield_now().await;
                }
                drop(handle);
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
            })
            .unwrap();
        assert_eq!(runner.lost_panics(), 2);
    }

    #[test]
    fn an_awaited_panic_or_outcome_is_not_lost() {
        quiet_panics();
        let mut runner = runner();
        runner
            .run(async {
                let err = crate::spawn_local(async { panic!("read") })
                    .await
                    .unwrap_err();
                assert!(err.is_panic());
                assert_eq!(crate::spawn(async { 1 }).await.unwrap(), 1);
            })
            .unwrap();
        assert_eq!(runner.lost_panics(), 0);
    }
}
