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

/// A request that the main task stop: the first reason wins, and the run it
/// ends takes it (a reusable runner's next run starts afresh).
#[derive(Debug, Default)]
pub(crate) struct StopMain {
    /// Whether `reason` holds one: the check made at every poll.
    asked: AtomicBool,
    /// The first reason not yet taken by a run.
    reason: Mutex<Option<Error>>,
    /// The main task's waker, registered at each poll.
    waker: AtomicWaker,
}

impl StopMain {
    /// Asks the main task to stop for `reason`, unless it was asked already.
    pub(crate) fn request(&self, reason: Error) {
        let mut slot = lock(&self.reason);
        if slot.is_none() {
            *slot = Some(reason);
            self.asked.store(true, Ordering::Release);
            drop(slot);
            self.waker.wake();
        }
    }

    /// The reason, if a stop was asked for; the run that ends takes it.
    fn take(&self) -> Option<Error> {
        if !self.asked.load(Ordering::Acquire) {
            return None;
        }
        let reason = lock(&self.reason).take();
        self.asked.store(false, Ordering::Release);
        reason
    }
}

pin_project_lite::pin_project! {
    /// The main task, ended with the stop's error once a stop was asked for
    /// (`stop` is `None` when the runner's policy never stops it).
    pub(crate) struct Stoppable<'a, F> {
        #[pin]
        main: F,
        stop: Option<&'a StopMain>,
    }
}

impl<'a, F> Stoppable<'a, F> {
    /// Wraps `main`; `stop` is where requests arrive, if any can.
    pub(crate) fn new(main: F, stop: Option<&'a StopMain>) -> Self {
        Stoppable { main, stop }
    }
}

impl<F: Future> Future for Stoppable<'_, F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(stop) = *this.stop else {
            return this.main.poll(cx).map(Ok);
        };
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
}
