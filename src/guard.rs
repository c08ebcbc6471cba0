//! One running loop per thread.
//!
//! A thread-local slot holds where the loop was entered while a runner
//! drives it on this thread (so a refused nested run can say what is
//! running where), through an RAII guard, so every exit path (return, `?`,
//! panic) clears it.
//! Tokio's own runtimes are recognised through the public context queries
//! (see SPEC 2.1): a thread with a current runtime handle counts as driving
//! it, except the blocking pool's threads, where asyncio also allows a new
//! loop (`asyncio.run` inside `to_thread`).
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::Location;

use crate::Error;

thread_local! {
    /// The call (`run` or `close`) that entered the loop this thread runs.
    static RUNNING: Cell<Option<&'static Location<'static>>> = const { Cell::new(None) };
}

/// Held while a runner drives its loop on this thread. `!Send`: it belongs
/// to the thread whose flag it set.
#[derive(Debug)]
pub(crate) struct LoopGuard {
    _not_send: PhantomData<*const ()>,
}

impl LoopGuard {
    /// Marks this thread as running a loop entered by the call at `at`, or
    /// says why it cannot.
    pub(crate) fn enter(at: &'static Location<'static>) -> Result<LoopGuard, Error> {
        if RUNNING.get().is_some() || drives_tokio() {
            return Err(Error::NestedRun);
        }
        RUNNING.set(Some(at));
        Ok(LoopGuard {
            _not_send: PhantomData,
        })
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        RUNNING.set(None);
    }
}

/// Where the runner loop this thread is inside right now was entered, if it
/// is inside one.
pub(crate) fn running_loop() -> Option<&'static Location<'static>> {
    RUNNING.get()
}

/// Whether this thread is driving (or has entered) a Tokio runtime.
///
/// The blocking pool is told apart by being inside a task without being a
/// worker. A thread that only entered a handle (`Handle::enter`) looks the
/// same as a multi-thread `block_on`, so it counts as driving one.
pub(crate) fn drives_tokio() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let on_blocking_pool =
        tokio::runtime::worker_index().is_none() && tokio::task::try_id().is_some();
    !on_blocking_pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_guard_on_one_thread_is_refused_and_released_after() {
        let first = LoopGuard::enter(Location::caller()).unwrap();
        assert!(matches!(
            LoopGuard::enter(Location::caller()),
            Err(Error::NestedRun)
        ));
        drop(first);
        assert!(LoopGuard::enter(Location::caller()).is_ok());
    }

    #[test]
    fn the_guard_is_released_by_a_panic() {
        let result = std::panic::catch_unwind(|| {
            let _guard = LoopGuard::enter(Location::caller()).unwrap();
            panic!("boom");
        });
        assert!(result.is_err());
        assert!(running_loop().is_none());
    }

    #[test]
    fn the_guard_remembers_where_the_loop_was_entered() {
        let at = Location::caller();
        let _guard = LoopGuard::enter(at).unwrap();
        assert_eq!(running_loop(), Some(at));
    }

    #[test]
    fn other_threads_are_independent() {
        let _guard = LoopGuard::enter(Location::caller()).unwrap();
        std::thread::spawn(|| assert!(LoopGuard::enter(Location::caller()).is_ok()))
            .join()
            .unwrap();
    }
}
