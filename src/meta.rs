//! Debug mode's record of each task: its name and spawn site, whether its
//! abort was asked for, and the registry of a runner's live tasks that the
//! report at close (and the task dump) read. Outside debug mode no record is
//! made: a task carries its spawn site itself.
#![forbid(unsafe_code)]

use std::mem;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::debug::{self, TaskName};

/// A task as debug mode records it; shared by the task, its `JoinHandle`
/// and the registry.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// The name given through `task::Builder::name`, if any.
    name: Option<Box<str>>,
    /// Where the task was spawned.
    site: &'static Location<'static>,
    /// `JoinHandle::abort` was called: the task is on its way out, so close
    /// does not report it as left pending even if Tokio has not dropped it
    /// yet.
    aborted: AtomicBool,
}

impl TaskMeta {
    /// A task spawned at `site`.
    pub(crate) fn new(name: Option<&str>, site: &'static Location<'static>) -> Self {
        TaskMeta {
            name: name.map(Into::into),
            site,
            aborted: AtomicBool::new(false),
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

    /// Moves the spawn site (the main task's record is made once and reused
    /// by every run, each with its own call site).
    pub(crate) fn set_site(&mut self, site: &'static Location<'static>) {
        self.site = site;
    }

    /// `JoinHandle::abort` was called.
    pub(crate) fn mark_aborted(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// Whether the task's `JoinHandle::abort` was called.
    pub(crate) fn abort_requested(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }
}

/// Debug mode's list of a runner's live tasks, for the report at close.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Live tasks.
    tasks: Arc<Mutex<Slab>>,
    /// `name at file:line:col` of each task reported pending at close.
    left_pending: Mutex<Vec<String>>,
}

impl Registry {
    /// Records a task until the returned registration is dropped.
    pub(crate) fn register(&self, meta: &Arc<TaskMeta>) -> Registration {
        let key = lock(&self.tasks).insert(meta.clone());
        Registration {
            key,
            tasks: self.tasks.clone(),
        }
    }

    /// Reports every task still pending (it is about to be cancelled),
    /// except those whose abort was already asked for: Tokio drops an
    /// aborted task only when its scheduler next gets to it.
    pub(crate) fn report_leftovers(&self) {
        let mut pending: Vec<Arc<TaskMeta>> = lock(&self.tasks)
            .live()
            .filter(|meta| !meta.abort_requested())
            .cloned()
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
    Occupied(Arc<TaskMeta>),
    /// Free; holds the next free slot.
    Vacant(usize),
}

impl Slab {
    fn insert(&mut self, meta: Arc<TaskMeta>) -> usize {
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

    fn remove(&mut self, key: usize) -> Option<Arc<TaskMeta>> {
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

    fn live(&self) -> impl Iterator<Item = &Arc<TaskMeta>> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Occupied(meta) => Some(meta),
            Slot::Vacant(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_leave_the_registry_when_dropped() {
        let registry = Registry::default();
        let meta = Arc::new(TaskMeta::new(Some("t"), Location::caller()));
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
}
