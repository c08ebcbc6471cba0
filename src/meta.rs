//! What the runner knows about each of its tasks: its name and spawn site,
//! the panic bookkeeping that turns a panic nobody retrieved into a report,
//! and, in debug mode, the registry of the tasks still alive.
//!
//! A task's [`TaskMeta`] is shared by the task's wrapper and its
//! `JoinHandle`. A panic is *lost* once both have happened: the task
//! panicked, and its handle was dropped without reading the outcome
//! (asyncio's "Task exception was never retrieved"). Whichever comes second
//! reports it.
#![forbid(unsafe_code)]

use std::mem;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError, Weak};

use crate::debug::{self, TaskName};
use crate::stop::{StopMain, StopReason};
use crate::track::{OnLost, Tracked};

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

/// Debug mode's list of a runner's live tasks, for the report at close and
/// the task dump.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Live tasks.
    tasks: Arc<Mutex<Slab>>,
    /// `name at file:line:col` of each task reported pending at close.
    left_pending: Mutex<Vec<String>>,
    /// Set when the runner closes: its tasks are dropped, and wakers going
    /// with them are not lost.
    closing: Arc<AtomicBool>,
    /// `RUNNER_LOST_WAKER_PANICS`, read when the runner was built.
    lost_waker_panics: bool,
}

/// How many times a task dump tries the registry's lock before it gives up
/// (the lock is held only to add or remove one task).
const DUMP_LOCK_TRIES: usize = 100;

impl Registry {
    /// An empty registry; `lost_waker_panics`: a lost waker panics after its
    /// report.
    pub(crate) fn new(lost_waker_panics: bool) -> Self {
        Registry {
            lost_waker_panics,
            ..Registry::default()
        }
    }

    /// Records a task until the returned registration is dropped.
    pub(crate) fn register(&self, meta: &Arc<TaskMeta>) -> Registration {
        self.insert(Tracked::new(meta.clone(), false, self.on_lost(None)))
    }

    /// Records the main task of a run at `site` until the registration is
    /// dropped; `stop` is where a lost waker stops it (`CancelMain`).
    pub(crate) fn register_main(
        &self,
        meta: Arc<TaskMeta>,
        stop: Option<Weak<LostPanics>>,
    ) -> Registration {
        self.insert(Tracked::new(meta, true, self.on_lost(stop)))
    }

    /// What a lost waker of one of this registry's tasks does.
    pub(crate) fn on_lost(&self, stop: Option<Weak<LostPanics>>) -> OnLost {
        OnLost {
            closing: Some(self.closing.clone()),
            stop,
            panic: self.lost_waker_panics,
        }
    }

    fn insert(&self, tracked: Tracked) -> Registration {
        let tracked = Arc::new(tracked);
        let key = lock(&self.tasks).insert(tracked.clone());
        Registration {
            key,
            tasks: self.tasks.clone(),
            tracked,
        }
    }

    /// The live tasks, unless the lock stays taken (by a thread that may be
    /// stuck) for [`DUMP_LOCK_TRIES`] tries.
    pub(crate) fn snapshot(&self) -> Option<Vec<Arc<Tracked>>> {
        for _ in 0..DUMP_LOCK_TRIES {
            let slab = match self.tasks.try_lock() {
                Ok(slab) => slab,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    std::thread::yield_now();
                    continue;
                }
            };
            return Some(slab.live().cloned().collect());
        }
        None
    }

    /// The runner is closing: lost wakers are no longer reported.
    pub(crate) fn closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Reports every task still pending (it is about to be cancelled),
    /// except those whose abort was already asked for: Tokio drops an
    /// aborted task only when its scheduler next gets to it.
    pub(crate) fn report_leftovers(&self) {
        let mut pending: Vec<Arc<TaskMeta>> = lock(&self.tasks)
            .live()
            .filter(|t| !t.main && !t.meta.abort_requested())
            .map(|t| t.meta.clone())
            .collect();
        if pending.is_empty() {
            return;
        }
        pending.sort_by_key(|m| (m.site.file(), m.site.line(), m.site.column()));
        let names: Vec<TaskName<'_>> = pending.iter().map(|m| m.task_name()).collect();
        *lock(&self.left_pending) = names
            .iter()
            .map(|t| format!("`{}` spawned at {}", t.name, t.site))
            .collect();
        debug::leftovers(&names);
    }

    /// The tasks the close report named as pending.
    pub(crate) fn left_pending(&self) -> Vec<String> {
        lock(&self.left_pending).clone()
    }
}

/// Removes a task from the registry when the task is dropped (finished or
/// cancelled).
#[derive(Debug)]
pub(crate) struct Registration {
    /// The task's slot.
    key: usize,
    /// The registry's tasks.
    tasks: Arc<Mutex<Slab>>,
    /// What is followed of the task.
    tracked: Arc<Tracked>,
}

impl Registration {
    /// What debug mode follows of the task.
    pub(crate) fn tracked(&self) -> &Arc<Tracked> {
        &self.tracked
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = lock(&self.tasks).remove(self.key);
        // Dropped outside the lock.
        drop(removed);
    }
}

/// Nothing panics while a registry lock is held, so poison carries no
/// meaning.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live tasks, each in a slot of a vector whose free slots form a
/// list: registering and leaving are O(1) with no hashing, which keeps
/// debug mode's cost per spawn low.
#[derive(Debug, Default)]
struct Slab {
    /// Every slot ever used.
    slots: Vec<Slot>,
    /// The first free slot; `slots.len()` when none is free.
    next_free: usize,
    /// How many slots hold a task.
    len: usize,
}

#[derive(Debug)]
enum Slot {
    /// A live task.
    Occupied(Arc<Tracked>),
    /// Free; holds the next free slot.
    Vacant(usize),
}

impl Slab {
    fn insert(&mut self, meta: Arc<Tracked>) -> usize {
        let key = self.next_free;
        if key == self.slots.len() {
            self.slots.push(Slot::Occupied(meta));
            self.next_free = key + 1;
        } else if let Slot::Vacant(next) = mem::replace(&mut self.slots[key], Slot::Occupied(meta))
        {
            self.next_free = next;
        }
        self.len += 1;
        key
    }

    fn remove(&mut self, key: usize) -> Option<Arc<Tracked>> {
        let slot = self.slots.get_mut(key)?;
        if let Slot::Vacant(_) = slot {
            return None;
        }
        let Slot::Occupied(meta) = mem::replace(slot, Slot::Vacant(self.next_free)) else {
            unreachable!("checked above");
        };
        self.next_free = key;
        self.len -= 1;
        Some(meta)
    }

    fn live(&self) -> impl Iterator<Item = &Arc<Tracked>> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Occupied(meta) => Some(meta),
            Slot::Vacant(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Arc<TaskMeta> {
        Arc::new(TaskMeta::new(Some("t"), Location::caller(), Weak::new()))
    }

    #[test]
    fn registrations_leave_the_registry_when_dropped() {
        let registry = Registry::default();
        let meta = meta();
        let a = registry.register(&meta);
        let b = registry.register(&meta);
        assert_eq!(lock(&registry.tasks).len, 2);
        drop(a);
        assert_eq!(lock(&registry.tasks).len, 1);
        let c = registry.register(&meta);
        assert_eq!(lock(&registry.tasks).live().count(), 2);
        drop(b);
        drop(c);
        assert_eq!(lock(&registry.tasks).len, 0);
        assert_eq!(lock(&registry.tasks).live().count(), 0);
    }

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
