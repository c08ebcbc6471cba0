//! Debug mode's registry of a runner's live tasks: what the report at close
//! names as left pending, what the task dump lists, and what the watchdog
//! watches. Each entry is the task's [`Tracked`] record; a task leaves the
//! registry when it is dropped.
#![forbid(unsafe_code)]

use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::lost::LostPanics;
use super::meta::TaskMeta;
use super::report::{self, TaskName};
use super::track::{OnLost, Role, Spare, Tracked};
use super::watchdog;
use crate::sync::{lock, try_lock};

/// Debug mode's list of a runner's live tasks, for the report at close and
/// the task dump.
#[derive(Debug)]
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
    /// Polls longer than this are reported.
    slow_poll: Duration,
    /// Where reports go.
    pub(crate) sink: report::Sink,
    /// What the watchdog reads, once a run began.
    watch: Arc<Watch>,
    /// Handed to the watchdog already.
    watched: AtomicBool,
}

/// What the watchdog reads of a runner: its tasks, its threshold, where its
/// reports go, and whether it still runs.
#[derive(Debug)]
pub(crate) struct Watch {
    /// The runner's live tasks.
    tasks: Arc<Mutex<Slab>>,
    /// Polls longer than this are reported.
    pub(crate) slow_poll: Duration,
    /// Where reports go.
    pub(crate) sink: report::Sink,
    /// Set when the runner closes: the watchdog forgets it.
    closing: Arc<AtomicBool>,
}

impl Watch {
    /// Calls `f` with each live task, unless the task list's lock is taken
    /// (by a thread that may be stuck): then `false`, and nothing is seen.
    pub(crate) fn try_each(&self, f: impl FnMut(&Arc<Tracked>)) -> bool {
        match try_lock(&self.tasks) {
            Some(slab) => {
                slab.live().for_each(f);
                true
            }
            None => false,
        }
    }

    /// Whether the runner has begun to close.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

/// How many times a task dump tries the registry's lock before it gives up
/// (the lock is held only to add or remove one task).
const DUMP_LOCK_TRIES: usize = 100;

impl Registry {
    /// An empty registry whose tasks report polls longer than `slow_poll`;
    /// `lost_waker_panics`: a lost waker panics after its report.
    pub(crate) fn new(slow_poll: Duration, lost_waker_panics: bool) -> Self {
        let (tasks, closing, sink) = <(Arc<Mutex<Slab>>, Arc<AtomicBool>, report::Sink)>::default();
        Registry {
            watch: Arc::new(Watch {
                tasks: tasks.clone(),
                slow_poll,
                sink: sink.clone(),
                closing: closing.clone(),
            }),
            tasks,
            left_pending: Mutex::default(),
            closing,
            lost_waker_panics,
            slow_poll,
            sink,
            watched: AtomicBool::new(false),
        }
    }

    /// A run begins on this thread: reports made on other threads go to
    /// this thread's subscriber from now on, and the watchdog watches the
    /// runner's polls (from its first run until it closes).
    pub(crate) fn begin_run(&self) {
        self.sink.capture();
        if self.watched.swap(true, Ordering::AcqRel) {
            watchdog::refresh();
        } else {
            watchdog::watch(&self.watch);
        }
    }

    /// Records a task until the returned registration is dropped.
    pub(crate) fn register(&self, meta: TaskMeta) -> Registration {
        self.insert(Tracked::new(meta, Role::Task, self.on_lost(None)))
    }

    /// Records blocking work (`spawn_blocking`) until the returned
    /// registration is dropped.
    pub(crate) fn register_blocking(&self, meta: TaskMeta) -> Registration {
        self.insert(Tracked::new(meta, Role::Blocking, self.on_lost(None)))
    }

    /// Records the main task of a run at `site` until the registration is
    /// dropped; `stop` is where a lost waker stops it (`CancelMain`).
    pub(crate) fn register_main(
        &self,
        meta: TaskMeta,
        stop: Option<Weak<LostPanics>>,
    ) -> Registration {
        self.insert(Tracked::new(meta, Role::Main, self.on_lost(stop)))
    }

    /// What a lost waker of one of this registry's tasks does.
    pub(crate) fn on_lost(&self, stop: Option<Weak<LostPanics>>) -> OnLost {
        OnLost {
            closing: Some(self.closing.clone()),
            stop,
            panic: self.lost_waker_panics,
            sink: self.sink.clone(),
        }
    }

    fn insert(&self, tracked: Tracked) -> Registration {
        let tracked = Arc::new(tracked);
        let key = lock(&self.tasks).insert(tracked.clone());
        Registration(Box::new(Entry {
            key,
            tasks: self.tasks.clone(),
            tracked,
            spare: Spare::default(),
            slow_poll: self.slow_poll,
        }))
    }

    /// The live tasks, unless the lock stays taken (by a thread that may be
    /// stuck) for [`DUMP_LOCK_TRIES`] tries.
    pub(crate) fn snapshot(&self) -> Option<Vec<Arc<Tracked>>> {
        for _ in 0..DUMP_LOCK_TRIES {
            match try_lock(&self.tasks) {
                Some(slab) => return Some(slab.live().cloned().collect()),
                None => std::thread::yield_now(),
            }
        }
        None
    }

    /// The runner is closing: lost wakers are no longer reported, and the
    /// watchdog forgets the runner.
    pub(crate) fn closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Reports every task still pending (it is about to be cancelled),
    /// except those whose abort was already asked for (Tokio drops an
    /// aborted task only when its scheduler next gets to it) and blocking
    /// work (which close waits for, and reports if it outlives the wait).
    pub(crate) fn report_leftovers(&self) {
        let mut pending: Vec<Arc<Tracked>> = lock(&self.tasks)
            .live()
            .filter(|t| t.role == Role::Task && !t.meta.abort_requested())
            .cloned()
            .collect();
        if pending.is_empty() {
            return;
        }
        pending.sort_by_key(|t| {
            let site = t.meta.site();
            (site.file(), site.line(), site.column())
        });
        let names: Vec<TaskName<'_>> = pending.iter().map(|t| t.meta.task_name()).collect();
        *lock(&self.left_pending) = names
            .iter()
            .map(|t| format!("`{}` spawned at {}", t.name, t.site))
            .collect();
        report::leftovers(&names);
    }

    /// The tasks the close report named as pending.
    pub(crate) fn left_pending(&self) -> Vec<String> {
        lock(&self.left_pending).clone()
    }
}

/// Removes a task from the registry when the task is dropped (finished or
/// cancelled). Boxed, so that the task wrapper's `Option<Registration>`
/// stays one word when debug mode is off.
#[derive(Debug)]
pub(crate) struct Registration(Box<Entry>);

#[derive(Debug)]
struct Entry {
    /// The task's slot.
    key: usize,
    /// The registry's tasks.
    tasks: Arc<Mutex<Slab>>,
    /// What is followed of the task.
    tracked: Arc<Tracked>,
    /// The task's last waker, kept for its next poll.
    spare: Spare,
    /// Polls longer than this are reported.
    slow_poll: Duration,
}

impl Registration {
    /// What debug mode follows of the task.
    pub(crate) fn tracked(&self) -> &Arc<Tracked> {
        &self.0.tracked
    }

    /// What debug mode follows of the task, and the waker kept for its
    /// next poll.
    pub(crate) fn parts(&mut self) -> (&Arc<Tracked>, &mut Spare) {
        (&self.0.tracked, &mut self.0.spare)
    }

    /// Polls of the task longer than this are reported.
    pub(crate) fn slow_poll(&self) -> Duration {
        self.0.slow_poll
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = lock(&self.0.tasks).remove(self.0.key);
        // Dropped outside the lock.
        drop(removed);
    }
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
    use std::panic::Location;

    use super::*;

    fn meta() -> TaskMeta {
        TaskMeta::new(Some("t"), Location::caller())
    }

    #[test]
    fn registrations_leave_the_registry_when_dropped() {
        let registry = Registry::new(Duration::from_millis(100), false);
        let a = registry.register(meta());
        let b = registry.register(meta());
        assert_eq!(lock(&registry.tasks).len, 2);
        drop(a);
        assert_eq!(lock(&registry.tasks).len, 1);
        let c = registry.register(meta());
        assert_eq!(lock(&registry.tasks).live().count(), 2);
        drop(b);
        drop(c);
        assert_eq!(lock(&registry.tasks).len, 0);
        assert_eq!(lock(&registry.tasks).live().count(), 0);
    }
}
