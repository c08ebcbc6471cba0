//! Debug mode: the reports asyncio's debug mode gives, as `tracing` events
//! under the `runner` target.
//!
//! - a poll that holds the thread longer than the slow-poll threshold;
//! - a task panic nobody retrieved (always on, debug mode or not);
//! - tasks still pending when the runner closes;
//! - misuse, explained.
//!
//! Outside debug mode the poll path reads no clock and the spawn path
//! registers nothing: the switch is an `Option` checked once per poll.
#![forbid(unsafe_code)]

use std::mem;
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::task::TaskMeta;

/// Nothing panics while the registry's locks are held, so poison carries no
/// meaning.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many leftover tasks close names one by one before it only counts.
const LEFTOVERS_LISTED: usize = 20;

/// Whether `RUNNER_DEBUG` asks for debug mode: set to anything but empty,
/// `0` or `false`.
pub(crate) fn env_debug() -> bool {
    std::env::var_os("RUNNER_DEBUG").is_some_and(|v| {
        let v = v.to_string_lossy();
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// Polls through `poll`, timing it when `slow_poll` is set.
#[inline]
pub(crate) fn timed_poll<T>(
    slow_poll: Option<Duration>,
    meta: &TaskMeta,
    poll: impl FnOnce() -> Poll<T>,
) -> Poll<T> {
    let Some(threshold) = slow_poll else {
        return poll();
    };
    let start = Instant::now();
    let result = poll();
    let took = start.elapsed();
    if took > threshold {
        slow_poll_report(meta, took, threshold);
    }
    result
}

pin_project_lite::pin_project! {
    /// A future whose polls are timed in debug mode: the main task's wrapper.
    pub(crate) struct Timed<'a, F> {
        #[pin]
        future: F,
        meta: &'a TaskMeta,
        slow_poll: Option<Duration>,
    }
}

impl<'a, F> Timed<'a, F> {
    pub(crate) fn new(future: F, meta: &'a TaskMeta, slow_poll: Option<Duration>) -> Self {
        Timed {
            future,
            meta,
            slow_poll,
        }
    }
}

impl<F: std::future::Future> std::future::Future for Timed<'_, F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        timed_poll(*this.slow_poll, this.meta, || future.poll(cx))
    }
}

#[cold]
fn slow_poll_report(meta: &TaskMeta, took: Duration, threshold: Duration) {
    let (took_ms, threshold_ms) = (millis(took), millis(threshold));
    tracing::warn!(
        target: "runner",
        task = meta.name(),
        spawned_at = %meta.location,
        took_ms,
        threshold_ms,
        "slow poll: task `{}` spawned at {} held the thread for {took_ms} ms \
         (threshold {threshold_ms} ms); move blocking work to `runner::spawn_blocking`",
        meta.name(),
        meta.location,
    );
}

/// Milliseconds rounded to a tenth, so fields print short (`150.2`).
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The message of a panic payload, as the default hook prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

/// A task panicked and its `JoinHandle` was dropped without reading it.
#[cold]
pub(crate) fn lost_panic(meta: &TaskMeta, message: &str) {
    tracing::error!(
        target: "runner",
        task = meta.name(),
        spawned_at = %meta.location,
        panic = message,
        "task `{}` spawned at {} panicked and nobody retrieved the panic \
         (its JoinHandle was dropped without being awaited): {}",
        meta.name(),
        meta.location,
        message,
    );
}

/// Explains a refused run in debug mode.
#[cold]
pub(crate) fn misuse(what: &str, location: &Location<'_>) {
    tracing::warn!(
        target: "runner",
        called_at = %location,
        "{what} (called at {location})",
    );
}

/// The runner tasks not finished yet, for the report at close.
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
        let key = self.lock().insert(meta.clone());
        Registration {
            key,
            tasks: self.tasks.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab> {
        lock(&self.tasks)
    }

    /// Warns about every task still pending (it is about to be cancelled),
    /// except those whose abort was already asked for: tokio drops an
    /// aborted task only when its scheduler next gets to it.
    pub(crate) fn report_leftovers(&self) {
        let mut pending: Vec<Arc<TaskMeta>> = {
            let tasks = self.lock();
            let mut pending = Vec::with_capacity(tasks.len());
            pending.extend(tasks.live().filter(|meta| !meta.abort_requested()).cloned());
            pending
        };
        if pending.is_empty() {
            return;
        }
        pending.sort_by_key(|m| (m.location.file(), m.location.line(), m.location.column()));
        *lock(&self.left_pending) = pending
            .iter()
            .map(|m| format!("`{}` spawned at {}", m.name(), m.location))
            .collect();
        for meta in pending.iter().take(LEFTOVERS_LISTED) {
            tracing::warn!(
                target: "runner",
                task = meta.name(),
                spawned_at = %meta.location,
                "task `{}` spawned at {} was still pending when the runner closed; \
                 it is cancelled now (await or abort it before the run ends)",
                meta.name(),
                meta.location,
            );
        }
        if pending.len() > LEFTOVERS_LISTED {
            tracing::warn!(
                target: "runner",
                pending = pending.len(),
                "{} more tasks were still pending when the runner closed",
                pending.len() - LEFTOVERS_LISTED,
            );
        }
    }
}

impl Registry {
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

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_of_both_string_kinds() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(panic_message(&*s), "static");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(&*s), "owned");
        let s: Box<dyn std::any::Any + Send> = Box::new(5u8);
        assert_eq!(panic_message(&*s), "Box<dyn Any>");
    }

    #[test]
    fn registrations_leave_the_registry_when_dropped() {
        let registry = Registry::default();
        let meta = Arc::new(TaskMeta::new(Some("t"), Location::caller()));
        let a = registry.register(&meta);
        let b = registry.register(&meta);
        assert_eq!(registry.lock().len(), 2);
        drop(a);
        assert_eq!(registry.lock().len(), 1);
        let c = registry.register(&meta);
        assert_eq!(registry.lock().live().count(), 2);
        drop(b);
        drop(c);
        assert_eq!(registry.lock().len(), 0);
        assert_eq!(registry.lock().live().count(), 0);
    }
}
