//! What the runner knows about each of its tasks: its name and spawn site,
//! and the panic bookkeeping that turns a panic nobody retrieved into a
//! report (and, under `LostPanic::CancelMain`, into a stop of the main task).
//!
//! A task's [`TaskMeta`] is shared by the task's wrapper and its
//! `JoinHandle`. A panic is *lost* once both have happened: the task
//! panicked, and its handle was dropped without reading the outcome
//! (asyncio's "Task exception was never retrieved"). Whichever comes second
//! reports it.
#![forbid(unsafe_code)]

use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{OnceLock, Weak};

use crate::debug::{self, TaskName};
use crate::stop::{StopMain, StopReason};

/// A task's identity and panic state.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// The name given through `task::Builder::name`, if any.
    name: Option<Box<str>>,
    /// Where the task was spawned.
    site: &'static Location<'static>,
    /// `PANICKED`, `HANDLE_GONE`, `RETRIEVED` and `ABORTED` bits.
    state: AtomicU8,
    /// The panic message, once the task panicked.
    panic: OnceLock<String>,
    /// Where the runner counts lost panics; dangling outside a runner.
    lost: Weak<LostPanics>,
}

/// The task panicked (in a poll, or while being dropped).
const PANICKED: u8 = 1;
/// The `JoinHandle` is gone without having read the outcome.
const HANDLE_GONE: u8 = 2;
/// Awaiting the handle gave the panic to its owner.
const RETRIEVED: u8 = 4;
/// `JoinHandle::abort` was called: the task is on its way out, so close does
/// not report it as left pending even if Tokio has not dropped it yet.
const ABORTED: u8 = 8;

impl TaskMeta {
    /// A task spawned at `site`, counted in `lost` if its panic is lost.
    pub(crate) fn new(
        name: Option<&str>,
        site: &'static Location<'static>,
        lost: Weak<LostPanics>,
    ) -> Self {
        TaskMeta {
            name: name.map(Into::into),
            site,
            state: AtomicU8::new(0),
            panic: OnceLock::new(),
            lost,
        }
    }

    /// The task as reports name it.
    pub(crate) fn task_name(&self) -> TaskName<'_> {
        TaskName {
            name: self.name.as_deref().unwrap_or("unnamed"),
            site: self.site,
        }
    }

    /// The name given at spawn, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned.
    pub(crate) fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// Moves the spawn site (the main task's meta is made once and reused by
    /// every run, each with its own call site).
    pub(crate) fn set_site(&mut self, site: &'static Location<'static>) {
        self.site = site;
    }

    /// `JoinHandle::abort` was called.
    pub(crate) fn mark_aborted(&self) {
        self.state.fetch_or(ABORTED, Ordering::AcqRel);
    }

    /// Whether the task's `JoinHandle::abort` was called.
    pub(crate) fn abort_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) & ABORTED != 0
    }

    /// Awaiting the handle gave its owner the panic.
    pub(crate) fn mark_retrieved(&self) {
        self.state.fetch_or(RETRIEVED, Ordering::AcqRel);
    }

    /// The task panicked in a poll: report it now if its handle is already
    /// gone.
    pub(crate) fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.record_panic(debug::panic_message(payload).to_owned());
    }

    /// Dropping the task's future (cancelling it) panicked.
    pub(crate) fn panicked_on_drop(&self, payload: &(dyn std::any::Any + Send)) {
        let message = debug::panic_message(payload);
        self.record_panic(format!("while being dropped (cancelled): {message}"));
    }

    fn record_panic(&self, message: String) {
        let _ = self.panic.set(message);
        if self.state.fetch_or(PANICKED, Ordering::AcqRel) & HANDLE_GONE != 0 {
            self.report_lost_panic();
        }
    }

    /// The handle is gone unread: report the panic now if the task already
    /// panicked and nobody read it.
    pub(crate) fn handle_gone(&self) {
        let prev = self.state.fetch_or(HANDLE_GONE, Ordering::AcqRel);
        if prev & PANICKED != 0 && prev & RETRIEVED == 0 {
            self.report_lost_panic();
        }
    }

    fn report_lost_panic(&self) {
        let message = self.panic.get().map_or("<unknown>", String::as_str);
        debug::lost_panic(self.task_name(), message);
        if let Some(lost) = self.lost.upgrade() {
            lost.record(self.task_name(), message);
        }
    }
}

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
            self.stop.request(StopReason::Panicked {
                task: task.name.to_owned(),
                spawned_at: task.site,
                message: message.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_panic_is_counted_once_both_the_panic_and_the_drop_happened() {
        let lost = Arc::new(LostPanics::default());
        let first = TaskMeta::new(None, Location::caller(), Arc::downgrade(&lost));
        first.handle_gone();
        assert_eq!(lost.count(), 0);
        first.panicked(&"boom");
        assert_eq!(lost.count(), 1);
        let second = TaskMeta::new(None, Location::caller(), Arc::downgrade(&lost));
        second.panicked(&"boom");
        assert_eq!(lost.count(), 1);
        second.handle_gone();
        assert_eq!(lost.count(), 2);
    }

    #[test]
    fn a_retrieved_panic_is_not_lost() {
        let lost = Arc::new(LostPanics::default());
        let meta = TaskMeta::new(None, Location::caller(), Arc::downgrade(&lost));
        meta.panicked(&"read");
        meta.mark_retrieved();
        meta.handle_gone();
        assert_eq!(lost.count(), 0);
    }
}
