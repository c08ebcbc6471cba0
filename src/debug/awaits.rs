//! Await edges: which task awaits which, through runner `JoinHandle`s, and
//! the deadlock a cycle of them is (asyncio 3.14's `pstree` reports await
//! cycles too).
//!
//! A `JoinHandle` polled by a registered task and not ready records the edge
//! "the task being polled awaits the handle's task". A task has one handle,
//! so the edge lives on the awaited task ([`Tracked`]'s `awaited_by`, the
//! awaiter's serial, and `awaited_at`, the awaiter's poll that last polled
//! the handle); the process-wide [`GRAPH`] lists, per awaiter, the tasks it
//! awaits, for the walk that finds a cycle and for the dump. An edge goes
//! when the await ends: the handle is ready, or dropped (with the future
//! that awaited it). An edge counts only while its awaiter has not been
//! polled since it last polled the handle: a task that gave up waiting
//! (`select!` over `&mut handle`) polls on without it, and its old edge is
//! not taken for a deadlock.
//!
//! A poll that finds its edge in place refreshes it with one store; the
//! graph's lock is taken only to add or remove one, and read with
//! `try_lock` by the dump. A new edge that closes a cycle is reported at
//! WARN, once, naming every task on the cycle with its spawn site.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use super::report::{self, TaskName};
use super::track::{self, Tracked};
use crate::sync::{lock, try_lock};

/// Per awaiter's serial, the tasks it awaits.
static GRAPH: Mutex<Option<HashMap<u64, Vec<Arc<Tracked>>>>> = Mutex::new(None);

/// How many times the dump tries the graph's lock before it gives up.
const DUMP_LOCK_TRIES: usize = 100;

/// A handle of `awaited` was polled: while it is `pending`, the task being
/// polled on this thread, if a registered one, awaits it.
#[inline(never)]
pub(crate) fn polled(awaited: &Arc<Tracked>, pending: bool) {
    if pending {
        self::pending(awaited);
    } else {
        ended(awaited);
    }
}

/// A handle of `awaited` was polled and is not ready: the task being polled
/// on this thread, if a registered one, awaits it.
fn pending(awaited: &Arc<Tracked>) {
    let me = track::polling();
    if me.serial == 0 {
        // Not a registered task: whatever it awaited before is over.
        ended(awaited);
        return;
    }
    awaited.awaited_at.store(me.poll, Ordering::Relaxed);
    if awaited.awaited_by.load(Ordering::Relaxed) != me.serial {
        record(me.serial, awaited);
    }
}

/// The await of `awaited`'s handle is over (ready, or the handle dropped).
#[inline]
pub(crate) fn ended(awaited: &Arc<Tracked>) {
    if awaited.awaited_by.load(Ordering::Relaxed) != 0 {
        remove(awaited);
    }
}

/// A new edge: `awaiter` awaits `awaited`. Reports the cycle it closes.
#[cold]
fn record(awaiter: u64, awaited: &Arc<Tracked>) {
    let cycle = {
        let mut graph = graph();
        let edges = graph.get_or_insert_with(HashMap::new);
        unlink(edges, awaited);
        awaited.awaited_by.store(awaiter, Ordering::Relaxed);
        edges.entry(awaiter).or_default().push(awaited.clone());
        cycle_back_to(edges, awaiter, awaited)
    };
    if let Some(cycle) = cycle {
        let names: Vec<TaskName<'_>> = cycle.iter().map(|t| t.meta.task_name()).collect();
        awaited.sink().emit(|| report::await_cycle(&names));
    }
}

#[cold]
fn remove(awaited: &Arc<Tracked>) {
    let mut graph = graph();
    if let Some(edges) = graph.as_mut() {
        unlink(edges, awaited);
    }
    awaited.awaited_by.store(0, Ordering::Relaxed);
}

fn graph() -> MutexGuard<'static, Option<HashMap<u64, Vec<Arc<Tracked>>>>> {
    lock(&GRAPH)
}

/// Takes `awaited` out of its awaiter's list, if it is in one.
fn unlink(edges: &mut HashMap<u64, Vec<Arc<Tracked>>>, awaited: &Arc<Tracked>) {
    let awaiter = awaited.awaited_by.load(Ordering::Relaxed);
    if let Some(list) = edges.get_mut(&awaiter) {
        list.retain(|t| !Arc::ptr_eq(t, awaited));
        if list.is_empty() {
            edges.remove(&awaiter);
        }
    }
}

/// The tasks `task` awaits now: its edges whose await was refreshed by its
/// latest poll.
fn awaits<'a>(
    edges: &'a HashMap<u64, Vec<Arc<Tracked>>>,
    task: &'a Tracked,
) -> impl Iterator<Item = &'a Arc<Tracked>> {
    let poll = task.polls();
    edges
        .get(&task.serial)
        .into_iter()
        .flatten()
        .filter(move |t| t.awaited_at.load(Ordering::Relaxed) == poll)
}

/// A path of current edges from `from` back to the task whose serial is
/// `awaiter` (which awaits `from`): the cycle, starting with the awaiter.
fn cycle_back_to(
    edges: &HashMap<u64, Vec<Arc<Tracked>>>,
    awaiter: u64,
    from: &Arc<Tracked>,
) -> Option<Vec<Arc<Tracked>>> {
    let mut seen = HashSet::new();
    // Depth first; `path[i]` is being explored with its `i`-th child next.
    let mut path: Vec<(Arc<Tracked>, usize)> = vec![(from.clone(), 0)];
    while let Some((task, next)) = path.last_mut() {
        let child = awaits(edges, task).nth(*next).cloned();
        *next += 1;
        match child {
            Some(child) if child.serial == awaiter => {
                let mut cycle = vec![child];
                cycle.extend(path.into_iter().map(|(t, _)| t));
                return Some(cycle);
            }
            Some(child) => {
                if seen.insert(child.serial) {
                    path.push((child, 0));
                }
            }
            None => {
                path.pop();
            }
        }
    }
    None
}

/// For the dump: per awaiter's serial, the serials of the tasks it awaits
/// now, unless the graph's lock stays taken.
pub(crate) fn snapshot(tasks: &[Arc<Tracked>]) -> Option<HashMap<u64, Vec<Arc<Tracked>>>> {
    for _ in 0..DUMP_LOCK_TRIES {
        if let Some(graph) = try_lock(&GRAPH) {
            let mut out = HashMap::new();
            if let Some(edges) = graph.as_ref() {
                for task in tasks {
                    let awaited: Vec<Arc<Tracked>> = awaits(edges, task).cloned().collect();
                    if !awaited.is_empty() {
                        out.insert(task.serial, awaited);
                    }
                }
            }
            return Some(out);
        }
        std::thread::yield_now();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::*;
    use crate::debug::meta::TaskMeta;
    use crate::debug::track::{OnLost, Role};

    fn task(name: &str) -> Arc<Tracked> {
        let meta = TaskMeta::new(Some(name), Location::caller());
        Arc::new(Tracked::new(meta, Role::Task, OnLost::default()))
    }

    #[test]
    fn a_cycle_is_found_only_through_current_edges() {
        let (a, b, c) = (task("a"), task("b"), task("c"));
        let mut edges: HashMap<u64, Vec<Arc<Tracked>>> = HashMap::new();
        // b awaits c, c awaits a (each edge made during the awaiter's poll
        // 0: none of them was polled yet).
        for (awaiter, awaited) in [(&b, &c), (&c, &a)] {
            awaited.awaited_by.store(awaiter.serial, Ordering::Relaxed);
            edges
                .entry(awaiter.serial)
                .or_default()
                .push((*awaited).clone());
        }
        let cycle = cycle_back_to(&edges, a.serial, &b).expect("a -> b -> c -> a");
        let serials: Vec<u64> = cycle.iter().map(|t| t.serial).collect();
        assert_eq!(serials, [a.serial, b.serial, c.serial]);
        // c was polled since it awaited a: that edge is stale.
        a.awaited_at.store(7, Ordering::Relaxed);
        assert!(cycle_back_to(&edges, a.serial, &b).is_none());
    }
}
