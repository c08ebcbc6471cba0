//! Panics nobody retrieved: asyncio's "Task exception was never retrieved".
//!
//! asyncio reports from the destructor of the unread result; so does this
//! module. A runner task that panics does not unwind into Tokio: its wrapper
//! catches the panic and completes with a [`PanicNote`] as its output. Tokio
//! keeps that output for the `JoinHandle` and drops it unread when nobody
//! can read it any more: at once if the handle was already gone when the
//! task ended, or when the handle is dropped later without being awaited.
//! The note's `Drop` is the report. A handle that reads the note takes the
//! payload out first, which disarms it.
//!
//! So the task and its handle share nothing for this, and nothing
//! process-wide is touched on any path: a detached task costs what Tokio's
//! own detached task costs. Each lost panic is reported exactly once, and a
//! retrieved one never.
//!
//! A panic while a task is being *dropped* (cancelled: aborted, or dropped
//! at close) cannot become an output: Tokio records it as the task's
//! `JoinError`. It is reported at once, as asyncio reports an exception
//! raised during shutdown, and still reaches a handle that awaits it.
#![forbid(unsafe_code)]

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::Weak;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::report::{self, TaskName};
use super::stop::StopMain;
use crate::Error;

/// A runner's count of task panics nobody retrieved, and what the first one
/// does under `LostPanic::CancelMain`.
#[derive(Debug, Default)]
pub(crate) struct LostPanics {
    /// How many were reported.
    count: AtomicUsize,
    /// `LostPanic::CancelMain`: a lost panic stops the main task.
    pub(crate) cancel_main: bool,
    /// Where the stop is asked for.
    pub(crate) stop: StopMain,
}

impl LostPanics {
    /// A count whose first panic stops the main task when `cancel_main`.
    pub(crate) fn new(cancel_main: bool) -> Self {
        LostPanics {
            cancel_main,
            ..LostPanics::default()
        }
    }

    /// How many lost panics were reported so far.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Counts a lost panic, and asks the main task to stop under
    /// `CancelMain`.
    fn record(&self, task: TaskName<'_>, message: &str) {
        self.count.fetch_add(1, Ordering::AcqRel);
        if self.cancel_main {
            self.stop.request(Error::TaskPanicked {
                task: task.name.to_owned(),
                spawned_at: task.site,
                message: message.to_owned(),
            });
        }
    }
}

/// A task's panic, with what its report needs.
#[derive(Debug)]
pub(crate) struct Panic {
    /// The task's name, if it was given one.
    pub(crate) name: Option<Box<str>>,
    /// Where the task was spawned.
    pub(crate) site: &'static Location<'static>,
    /// The panic message.
    pub(crate) message: String,
    /// The runner to count it in, if the task ran in one.
    pub(crate) runner: Weak<LostPanics>,
    /// The subscriber to report to, when the report may come from a thread
    /// whose own subscriber is not the spawner's (the blocking pool).
    pub(crate) dispatch: Option<tracing::Dispatch>,
}

impl Panic {
    /// Reports the panic as lost and counts it in its runner.
    pub(crate) fn report(&self) {
        match &self.dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, || self.report_here()),
            None => self.report_here(),
        }
    }

    fn report_here(&self) {
        let task = TaskName {
            name: self.name.as_deref().unwrap_or("unnamed"),
            site: self.site,
        };
        report::lost_panic(task, &self.message);
        if let Some(lost) = self.runner.upgrade() {
            lost.record(task, &self.message);
        }
    }
}

/// The output of a runner task that panicked: the payload, and the report
/// its `Drop` makes unless a `JoinHandle` took the payload out.
pub(crate) struct PanicNote {
    /// The panic's payload; `None` once retrieved.
    payload: Option<Box<dyn Any + Send>>,
    /// What the report says.
    panic: Panic,
}

impl PanicNote {
    /// A panic with `payload`, reported when dropped unread.
    pub(crate) fn new(payload: Box<dyn Any + Send>, panic: Panic) -> Box<Self> {
        Box::new(PanicNote {
            payload: Some(payload),
            panic,
        })
    }

    /// The payload, for whoever retrieves the panic: no report is made.
    pub(crate) fn retrieve(mut self) -> Box<dyn Any + Send> {
        self.payload
            .take()
            .expect("a note's payload is taken once, by the note's owner")
    }
}

impl Drop for PanicNote {
    fn drop(&mut self) {
        if self.payload.is_some() {
            self.panic.report();
        }
    }
}

impl fmt::Debug for PanicNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicNote")
            .field("panic", &self.panic)
            .field("retrieved", &self.payload.is_none())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn note(lost: &Arc<LostPanics>) -> Box<PanicNote> {
        let panic = Panic {
            name: Some("t".into()),
            site: Location::caller(),
            message: "boom".into(),
            runner: Arc::downgrade(lost),
            dispatch: None,
        };
        PanicNote::new(Box::new("boom"), panic)
    }

    #[test]
    fn a_note_dropped_unread_is_reported_once() {
        let lost = Arc::new(LostPanics::default());
        drop(note(&lost));
        assert_eq!(lost.count(), 1);
    }

    #[test]
    fn a_retrieved_note_is_not_reported_and_gives_the_payload() {
        let lost = Arc::new(LostPanics::default());
        let payload = note(&lost).retrieve();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(lost.count(), 0);
    }
}
