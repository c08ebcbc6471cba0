//! Failing fast (`LostPanic::CancelMain`): a request, from any thread, that
//! the main task stop, and the wrapper around the main task that honours it
//! within one turn of the loop.
//!
//! The request comes from wherever the runner learns that something can
//! never be retrieved or can never run again: a lost panic (a task's
//! wrapper, its `JoinHandle`'s drop, a blocking-pool thread) or, in debug
//! mode, the main task's lost waker. It wakes the main task; the wrapper
//! sees the reason on that poll and ends the run with the matching error.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

use crate::Error;
use crate::sync::lock;

/// A request that the main task stop: the first reason wins, and only while
/// a run is active (from the main task's first poll until its [`Stoppable`]
/// is dropped). A request that arrives while no
/// run is active (a leftover task of an earlier run panicking between runs,
/// on a worker or the blocking pool, or a handle dropped between runs) is
/// not kept: what it reports was reported and counted already, and the next
/// run starts afresh. The run that ends takes the reason.
#[derive(Debug, Default)]
pub(crate) struct StopMain {
    /// Whether `run` holds a reason: the check made at every poll.
    asked: AtomicBool,
    /// Whether a run is active, and the first reason not yet taken by it.
    run: Mutex<Run>,
    /// The main task's waker, registered at each poll.
    waker: AtomicWaker,
}

/// The run a stop can end, under [`StopMain`]'s lock: checked and changed
/// together, so a request racing with a run's end is either taken by that
/// run or dropped, never left for the next one.
#[derive(Debug, Default)]
struct Run {
    /// A run is active: requests are kept.
    active: bool,
    /// The first reason asked for during the active run.
    reason: Option<Error>,
}

impl StopMain {
    /// Asks the main task to stop for `reason`, unless it was asked already
    /// or no run is active.
    pub(crate) fn request(&self, reason: Error) {
        let mut run = lock(&self.run);
        if run.active && run.reason.is_none() {
            run.reason = Some(reason);
            self.asked.store(true, Ordering::Release);
            drop(run);
            self.waker.wake();
        }
    }

    /// The reason, if a stop was asked for; the run that ends takes it.
    fn take(&self) -> Option<Error> {
        if !self.asked.load(Ordering::Acquire) {
            return None;
        }
        let reason = lock(&self.run).reason.take();
        self.asked.store(false, Ordering::Release);
        reason
    }

    /// A run starts (`true`) or ends (`false`): either way nothing asked
    /// before is kept.
    fn set_active(&self, active: bool) {
        let mut run = lock(&self.run);
        run.active = active;
        let stale = run.reason.take();
        self.asked.store(false, Ordering::Release);
        drop(run);
        drop(stale);
    }
}

/// Marks a run active for as long as it lives.
#[derive(Debug)]
struct ActiveRun<'a>(&'a StopMain);

impl<'a> ActiveRun<'a> {
    fn begin(stop: &'a StopMain) -> Self {
        stop.set_active(true);
        ActiveRun(stop)
    }
}

impl Drop for ActiveRun<'_> {
    fn drop(&mut self) {
        self.0.set_active(false);
    }
}

pin_project_lite::pin_project! {
    /// The main task, ended with the stop's error once a stop was asked for
    /// (`stop` is `None` when the runner's policy never stops it). For
    /// [`StopMain`], the run is active from the first poll (so the main task
    /// is always polled once: nothing asked before its run began ends it)
    /// until this is dropped.
    pub(crate) struct Stoppable<'a, F> {
        #[pin]
        main: F,
        stop: Option<&'a StopMain>,
        run: Option<ActiveRun<'a>>,
    }
}

impl<'a, F> Stoppable<'a, F> {
    /// Wraps `main`; `stop` is where requests arrive, if any can.
    pub(crate) fn new(main: F, stop: Option<&'a StopMain>) -> Self {
        Stoppable {
            main,
            stop,
            run: None,
        }
    }
}

impl<F: Future> Future for Stoppable<'_, F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(stop) = *this.stop else {
            return this.main.poll(cx).map(Ok);
        };
        if this.run.is_none() {
            // The run begins: what was asked before is not kept.
            *this.run = Some(ActiveRun::begin(stop));
        }
        stop.waker.register(cx.waker());
        if let Some(reason) = stop.take() {
            return Poll::Ready(Err(reason));
        }
        match this.main.poll(cx) {
            Poll::Ready(output) => Poll::Ready(Ok(output)),
            // A stop asked for during the poll (the main task dropped the
            // handle of a task that had panicked) ends the run now.
            Poll::Pending => match stop.take() {
                Some(reason) => Poll::Ready(Err(reason)),
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::Location;

    #[test]
    fn the_first_reason_wins() {
        let stop = StopMain::default();
        let _run = ActiveRun::begin(&stop);
        let site = Location::caller();
        stop.request(Error::LostWaker {
            task: "main".into(),
            spawned_at: site,
        });
        stop.request(Error::TaskPanicked {
            task: "t".into(),
            spawned_at: site,
            message: "boom".into(),
        });
        assert!(matches!(stop.take(), Some(Error::LostWaker { .. })));
        assert!(stop.take().is_none(), "taken by the run it ended");
    }

    #[test]
    fn a_request_counts_only_during_a_run_and_none_outlives_it() {
        let stop = StopMain::default();
        let site = Location::caller();
        let panicked = || Error::TaskPanicked {
            task: "t".into(),
            spawned_at: site,
            message: "boom".into(),
        };
        stop.request(panicked());
        let run = ActiveRun::begin(&stop);
        assert!(stop.take().is_none(), "asked before the run: not kept");
        stop.request(panicked());
        drop(run);
        let _next = ActiveRun::begin(&stop);
        assert!(stop.take().is_none(), "left by the last run: not kept");
    }
}
