//! The runner on this thread: one thread-local that says which runner's loop
//! this thread drives (one loop per thread) and which runner's task it is
//! polling (what spawns and reports attach to), and a marker that tells a
//! runner dropped at thread exit that the thread's thread-locals are going
//! ([`thread_is_exiting`]).
//!
//! [`LoopGuard`] is held while a runner drives its loop on this thread; a
//! second run on the same thread is refused with [`Error::NestedRun`]
//! instead of panicking or deadlocking. It is an RAII guard, so every exit
//! path (return, `?`, panic) releases it.
//!
//! Tokio's own runtimes are recognised through its public context queries:
//! a thread with a current runtime handle counts as driving it, except the
//! blocking pool's threads, where asyncio also allows a new loop
//! (`asyncio.run` inside `to_thread`). A thread that only entered a handle
//! (`Handle::enter`) looks the same as a multi-thread `block_on` to those
//! queries, so it counts as driving a runtime too.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::mem;
use std::panic::Location;
use std::sync::Arc;

use crate::Error;
use crate::shared::{self, LoopShared};

/// What this thread is doing for runners.
struct OnThread {
    /// The call (`run` or `close`) that entered the loop this thread drives.
    loop_entered_at: Cell<Option<&'static Location<'static>>>,
    /// The runner of the task being polled, or of the loop being driven.
    runner: RefCell<Option<Arc<LoopShared>>>,
    /// This thread drives a current-thread loop, inside its `LocalSet`.
    local_loop: Cell<bool>,
}

thread_local! {
    static ON_THREAD: OnThread = const {
        OnThread {
            loop_entered_at: Cell::new(None),
            runner: RefCell::new(None),
            local_loop: Cell::new(false),
        }
    };
}

/// The thread-exit marker: `true` on a thread where a runner was built,
/// until the thread's thread-locals are destroyed. Its `Drop` is what makes
/// it a marker: a value with one is destroyed at thread exit (where
/// thread-locals are OS keys, as on `windows-gnu`, it is then reset, and a
/// later access sees a fresh `false`).
struct BuiltHere(Cell<bool>);

impl Drop for BuiltHere {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

thread_local! {
    static BUILT_HERE: BuiltHere = const { BuiltHere(Cell::new(false)) };
}

/// Marks this thread as one where a runner was built, first touching the
/// thread-locals Tokio's runtime and `LocalSet` use (its context, and the
/// `LocalSet`'s, which a `LocalSet`'s drop registers), so that the marker's
/// destructor is registered after theirs: at thread exit the marker goes
/// first (std runs thread-local destructors in reverse order of
/// registration, and OS keys newest first), and while it stands, Tokio's
/// stand. Once per thread.
fn mark_built_here() {
    if BUILT_HERE.try_with(|b| b.0.get()).unwrap_or(true) {
        return;
    }
    if tokio_context_destroyed() {
        return; // A `LocalSet` cannot be made: the thread is exiting anyway.
    }
    drop(tokio::task::LocalSet::new());
    let _ = BUILT_HERE.try_with(|b| b.0.set(true));
}

/// A runner was built on this thread (`Runner::new`).
///
/// On Unix this registers Tokio's and the marker's thread-local destructors
/// now, so that a runner built in a `thread_local!` initializer (whose own
/// destructor std registers after the initializer returns) is dropped at
/// thread exit before them, and closes as usual: its tasks cancelled inside
/// its runtime, its blocking pool waited for. On Windows the marker waits
/// for [`loop_built_here`]: there a destructor runs under the loader lock,
/// where waiting for the blocking pool's threads to exit would deadlock, so
/// the marker must go before the runner, for the runner to know.
pub(crate) fn runner_built_here() {
    #[cfg(not(windows))]
    mark_built_here();
}

/// A runner's loop was built on this thread (its first run or `handle`).
pub(crate) fn loop_built_here() {
    mark_built_here();
}

/// Whether this thread's thread-locals are being destroyed (thread exit),
/// asked by the close of a loop built on this thread: the marker is gone
/// (or reset), or Tokio's context is.
pub(crate) fn thread_is_exiting() -> bool {
    let marked = BUILT_HERE.try_with(|b| b.0.get()).unwrap_or(false);
    !marked || tokio_context_destroyed()
}

/// Whether Tokio's thread-local context is destroyed (thread exit).
fn tokio_context_destroyed() -> bool {
    matches!(
        tokio::runtime::Handle::try_current(),
        Err(err) if err.is_thread_local_destroyed()
    )
}

/// Held while a runner drives its loop on this thread. `!Send`: it belongs
/// to the thread whose state it set.
#[derive(Debug)]
pub(crate) struct LoopGuard {
    /// The runner that was current before, put back on drop.
    prev: Option<Arc<LoopShared>>,
    _not_send: PhantomData<*const ()>,
}

impl LoopGuard {
    /// Marks this thread as driving `runner`'s loop, entered by the call at
    /// `at`, or says why it cannot.
    pub(crate) fn enter(
        at: &'static Location<'static>,
        runner: &Arc<LoopShared>,
    ) -> Result<LoopGuard, Error> {
        if running_loop().is_some() || drives_tokio() {
            return Err(Error::NestedRun);
        }
        let prev = ON_THREAD
            .try_with(|t| {
                t.loop_entered_at.set(Some(at));
                t.runner.replace(Some(runner.clone()))
            })
            // The thread is being torn down: nothing can be nested any more.
            .unwrap_or(None);
        Ok(LoopGuard {
            prev,
            _not_send: PhantomData,
        })
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = ON_THREAD.try_with(|t| {
            t.loop_entered_at.set(None);
            t.runner.replace(prev)
        });
    }
}

/// Where the runner loop this thread drives right now was entered, if it
/// drives one.
pub(crate) fn running_loop() -> Option<&'static Location<'static>> {
    ON_THREAD
        .try_with(|t| t.loop_entered_at.get())
        .ok()
        .flatten()
}

/// Marks this thread as driving a current-thread loop inside its
/// `LocalSet` until the guard drops: `runner::spawn` then puts its task in
/// the `LocalSet` too, which runs it on this same thread, as the runtime
/// would, at a lower cost per task.
pub(crate) fn enter_local_loop() -> LocalLoop {
    let _ = ON_THREAD.try_with(|t| t.local_loop.set(true));
    LocalLoop(PhantomData)
}

/// Whether this thread drives a current-thread loop, inside its `LocalSet`.
pub(crate) fn in_local_loop() -> bool {
    ON_THREAD.try_with(|t| t.local_loop.get()).unwrap_or(false)
}

/// Clears the mark of [`enter_local_loop`] when dropped.
#[derive(Debug)]
pub(crate) struct LocalLoop(PhantomData<*const ()>);

impl Drop for LocalLoop {
    fn drop(&mut self) {
        let _ = ON_THREAD.try_with(|t| t.local_loop.set(false));
    }
}

/// Whether this thread is driving (or has entered) a Tokio runtime.
///
/// The blocking pool is told apart by being inside a task without being a
/// worker.
pub(crate) fn drives_tokio() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let on_blocking_pool =
        tokio::runtime::worker_index().is_none() && tokio::task::try_id().is_some();
    !on_blocking_pool
}

/// The runner of the task being polled on this thread, or of the loop it
/// drives.
pub(crate) fn runner() -> Option<Arc<LoopShared>> {
    ON_THREAD
        .try_with(|t| t.runner.borrow().clone())
        .ok()
        .flatten()
}

/// The identity of [`runner`] (0 outside runner tasks and loops): what the
/// signal module compares with the run that owns the signal.
pub(crate) fn runner_id() -> usize {
    ON_THREAD
        .try_with(|t| t.runner.borrow().as_ref().map_or(0, shared::id))
        .unwrap_or(0)
}

/// Makes a task's runner current for one poll (or drop) of the task, unless
/// it already is (a task of the runner whose loop this thread drives: the
/// usual case, with nothing to swap). `None` leaves the thread's runner as it
/// is.
pub(crate) fn enter_task(runner: &mut Option<Arc<LoopShared>>) -> Option<TaskEntered<'_>> {
    let ours = runner.as_ref()?;
    let same = ON_THREAD
        .try_with(|t| matches!(&*t.runner.borrow(), Some(cur) if Arc::ptr_eq(cur, ours)))
        .unwrap_or(true);
    if same {
        return None;
    }
    ON_THREAD.with(|t| mem::swap(&mut *t.runner.borrow_mut(), runner));
    Some(TaskEntered(runner))
}

/// Swaps the thread's previous runner back when dropped.
pub(crate) struct TaskEntered<'a>(&'a mut Option<Arc<LoopShared>>);

impl Drop for TaskEntered<'_> {
    fn drop(&mut self) {
        let _ = ON_THREAD.try_with(|t| mem::swap(&mut *t.runner.borrow_mut(), self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<LoopShared> {
        Arc::new(LoopShared::new(None, false, std::time::Duration::ZERO))
    }

    #[test]
    fn a_second_guard_on_one_thread_is_refused_and_released_after() {
        let runner = shared();
        let first = LoopGuard::enter(Location::caller(), &runner).unwrap();
        assert!(matches!(
            LoopGuard::enter(Location::caller(), &runner),
            Err(Error::NestedRun)
        ));
        drop(first);
        assert!(LoopGuard::enter(Location::caller(), &runner).is_ok());
    }

    #[test]
    fn the_guard_is_released_by_a_panic() {
        let result = std::panic::catch_unwind(|| {
            let _guard = LoopGuard::enter(Location::caller(), &shared()).unwrap();
            panic!("boom");
        });
        assert!(result.is_err());
        assert!(running_loop().is_none());
        assert!(runner().is_none());
    }

    #[test]
    fn the_guard_remembers_where_the_loop_was_entered_and_whose_it_is() {
        let at = Location::caller();
        let runner = shared();
        let _guard = LoopGuard::enter(at, &runner).unwrap();
        assert_eq!(running_loop(), Some(at));
        assert_eq!(runner_id(), shared::id(&runner));
    }

    #[test]
    fn a_task_of_another_runner_swaps_its_runner_in_for_its_poll() {
        let (ours, theirs) = (shared(), shared());
        let _guard = LoopGuard::enter(Location::caller(), &ours).unwrap();
        let mut task_runner = Some(theirs.clone());
        {
            let _in_task = enter_task(&mut task_runner);
            assert_eq!(runner_id(), shared::id(&theirs));
        }
        assert_eq!(runner_id(), shared::id(&ours));
        let mut same = Some(ours.clone());
        assert!(enter_task(&mut same).is_none(), "nothing to swap");
        let mut implicit = None;
        assert!(
            enter_task(&mut implicit).is_none(),
            "the thread's runner stays"
        );
    }

    #[test]
    fn other_threads_are_independent() {
        let _guard = LoopGuard::enter(Location::caller(), &shared()).unwrap();
        std::thread::spawn(|| assert!(LoopGuard::enter(Location::caller(), &shared()).is_ok()))
            .join()
            .unwrap();
    }
}
