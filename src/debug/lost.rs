//! Panics nobody retrieved: asyncio's "Task exception was never retrieved".
//!
//! A task's panic is *lost* once both have happened: the task panicked, and
//! its `JoinHandle` was dropped without reading the outcome. Whichever comes
//! second reports it, always (debug mode or not), with the task's name and
//! spawn site, and counts it in the runner's [`LostPanics`].
//!
//! The task and its handle share no allocation for this: most handles are
//! awaited, and that path must cost nothing. They meet in a process-wide
//! table keyed by Tokio's task id, touched only on the paths that need it:
//!
//! - a task panics: if its handle was dropped before ([`Entry::Detached`]),
//!   report now; else leave an [`Entry::Panicked`] for the handle;
//! - a handle is awaited and gets the panic: remove the entry (retrieved);
//! - a handle is dropped unread: report a [`Entry::Panicked`] entry, or, if
//!   the task is still running, leave an [`Entry::Detached`] for it.
//!
//! Both sides take the table's lock, so whichever comes second sees the
//! other's entry. A detached task that ends without panicking leaves its
//! entry behind (the task cannot know its handle is gone); such entries are
//! swept when the table has doubled since the last sweep, and by
//! [`sweep`] when a runner closes, so the table holds at most about twice
//! the detached tasks alive at its peak.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Weak};

use tokio::task::{AbortHandle, Id};

use super::report::{self, TaskName};
use super::stop::StopMain;
use crate::Error;
use crate::sync::lock;

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

/// A panic waiting to be retrieved, with what its report needs.
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
}

impl Panic {
    fn report(self) {
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

/// What the table holds for a task.
#[derive(Debug)]
enum Entry {
    /// The handle was dropped while the task ran; kept to tell when the task
    /// is done, for the sweep.
    Detached(AbortHandle),
    /// The task panicked; its handle has not read the panic yet.
    Panicked(Panic),
}

/// The table, and when to sweep it next.
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Id, Entry>,
    /// Sweep finished detached entries once the table is this long.
    sweep_at: usize,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);
/// How many `Panicked` entries the table holds: when none, a handle dropped
/// after its task finished has nothing to look up.
static PANICKED: AtomicUsize = AtomicUsize::new(0);
/// The table never sweeps below this many entries.
const SWEEP_MIN: usize = 64;

/// The task side: the task with id `id` panicked (in a poll, or while being
/// dropped).
pub(crate) fn task_panicked(id: Option<Id>, panic: Panic) {
    let Some(id) = id else {
        // Outside any Tokio task nothing can retrieve it.
        return panic.report();
    };
    let mut guard = lock(&TABLE);
    let table = guard.get_or_insert_with(Table::default);
    match table.entries.remove(&id) {
        Some(Entry::Detached(_)) => {
            drop(guard);
            panic.report();
        }
        _ => {
            table.entries.insert(id, Entry::Panicked(panic));
            PANICKED.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The handle side: awaiting the handle of task `id` gave its owner the panic.
pub(crate) fn retrieved(id: Id) {
    if let Some(table) = lock(&TABLE).as_mut() {
        if let Some(Entry::Panicked(_)) = table.entries.remove(&id) {
            PANICKED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The handle side: `handle` is dropped without its outcome having been read.
pub(crate) fn handle_dropped<T>(handle: &tokio::task::JoinHandle<T>) {
    // A task records its panic before it is finished, so a finished task
    // with no panic recorded anywhere has nothing to report.
    if handle.is_finished() && PANICKED.load(Ordering::Acquire) == 0 {
        return;
    }
    let id = handle.id();
    let mut guard = lock(&TABLE);
    let table = guard.get_or_insert_with(Table::default);
    match table.entries.remove(&id) {
        Some(Entry::Panicked(panic)) => {
            PANICKED.fetch_sub(1, Ordering::AcqRel);
            drop(guard);
            panic.report();
        }
        _ if handle.is_finished() => {}
        _ => {
            table
                .entries
                .insert(id, Entry::Detached(handle.abort_handle()));
            if table.entries.len() >= table.sweep_at {
                table.sweep();
            }
        }
    }
}

/// Drops the entries of detached tasks that are done (a runner that closes
/// has just finished all of its own).
pub(crate) fn sweep() {
    if let Some(table) = lock(&TABLE).as_mut() {
        table.sweep();
    }
}

impl Table {
    fn sweep(&mut self) {
        self.entries
            .retain(|_, entry| !matches!(entry, Entry::Detached(task) if task.is_finished()));
        self.sweep_at = (2 * self.entries.len()).max(SWEEP_MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn panic(lost: &Arc<LostPanics>) -> Panic {
        Panic {
            name: Some("t".into()),
            site: Location::caller(),
            message: "boom".into(),
            runner: Arc::downgrade(lost),
        }
    }

    fn on_runtime(f: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f);
    }

    #[test]
    fn a_panic_after_the_handle_is_dropped_is_reported_by_the_task() {
        on_runtime(async {
            let lost = Arc::new(LostPanics::default());
            let task = tokio::spawn(std::future::pending::<()>());
            handle_dropped(&task);
            task_panicked(Some(task.id()), panic(&lost));
            assert_eq!(lost.count(), 1);
            task.abort();
        });
    }

    #[test]
    fn a_handle_dropped_after_the_panic_reports_it() {
        on_runtime(async {
            let lost = Arc::new(LostPanics::default());
            let task = tokio::spawn(async {});
            task_panicked(Some(task.id()), panic(&lost));
            assert_eq!(lost.count(), 0);
            handle_dropped(&task);
            assert_eq!(lost.count(), 1);
        });
    }

    #[test]
    fn a_retrieved_panic_is_not_reported() {
        on_runtime(async {
            let lost = Arc::new(LostPanics::default());
            let task = tokio::spawn(async {});
            task_panicked(Some(task.id()), panic(&lost));
            retrieved(task.id());
            handle_dropped(&task);
            assert_eq!(lost.count(), 0);
        });
    }

    #[test]
    fn finished_detached_tasks_are_swept() {
        on_runtime(async {
            let tasks: Vec<_> = (0..SWEEP_MIN * 4)
                .map(|_| tokio::spawn(std::future::pending::<()>()))
                .collect();
            let ids: Vec<Id> = tasks.iter().map(|t| t.id()).collect();
            for task in &tasks {
                handle_dropped(task);
                task.abort();
            }
            for task in tasks {
                assert!(task.await.unwrap_err().is_cancelled());
            }
            sweep();
            let guard = lock(&TABLE);
            let entries = &guard.as_ref().unwrap().entries;
            assert!(ids.iter().all(|id| !entries.contains_key(id)));
        });
    }
}
