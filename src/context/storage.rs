//! Where a context's mapping lives: the sorted copy-on-write [`Vars`], the
//! thread's current context, and the swap that parks a shadowed context's
//! mapping where its handles can read it.

use std::any::Any;
use std::cell::RefCell;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::cancel::CancelState;
use crate::sync::lock;

pub(super) type Value = Arc<dyn Any + Send + Sync>;

#[derive(Clone)]
pub(super) struct Entry {
    /// The variable's identity.
    pub(super) id: u64,
    /// The variable's name, for `Context::var_names` and `Debug`.
    pub(super) name: &'static str,
    /// The value, shared by every copy of the mapping that holds it.
    pub(super) value: Value,
}

/// An immutable mapping of variables to values, sorted by variable id;
/// `None` is the empty mapping.
#[derive(Clone, Default)]
pub(super) struct Vars(Option<Arc<Vec<Entry>>>);

impl Vars {
    #[inline]
    pub(super) fn entries(&self) -> &[Entry] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// `id`'s value; see [`position`] for `hint`.
    #[inline]
    pub(super) fn find(&self, id: u64, hint: &AtomicU32) -> Option<&Value> {
        let entries = self.entries();
        position(entries, id, hint).map(|i| &entries[i].value)
    }

    /// Replaces `id`'s value in place when nothing else shares it (neither
    /// the mapping nor the value) and it has type `T`: no allocation, the old
    /// value is handed back. Otherwise gives `value` back untouched.
    #[inline]
    pub(super) fn overwrite<T: Any>(
        &mut self,
        id: u64,
        hint: &AtomicU32,
        value: T,
    ) -> Result<T, T> {
        let Some(entries) = self.0.as_mut().and_then(Arc::get_mut) else {
            return Err(value);
        };
        let Some(i) = position(entries, id, hint) else {
            return Err(value);
        };
        match Arc::get_mut(&mut entries[i].value).and_then(|v| v.downcast_mut::<T>()) {
            Some(slot) => Ok(mem::replace(slot, value)),
            None => Err(value),
        }
    }

    /// Sets (or, with `None`, removes) `id`'s value. Returns what the caller
    /// must drop once no borrow of the thread-local is held, because dropping
    /// a value runs user code.
    pub(super) fn replace(&mut self, id: u64, name: &'static str, value: Option<Value>) -> Garbage {
        let mut garbage = Garbage::default();
        let arc = self.0.get_or_insert_with(Default::default);
        // One uniqueness check (an atomic compare-exchange) on the usual path.
        match Arc::get_mut(arc) {
            Some(entries) => garbage.value = edit(entries, id, name, value),
            None => {
                let mut copy = Vec::clone(arc);
                garbage.value = edit(&mut copy, id, name, value);
                garbage.vars = Some(mem::replace(arc, Arc::new(copy)));
            }
        }
        garbage
    }
}

/// Where `id` is in `entries`. `hint` is where the variable was found last
/// time (in this mapping or another): checked first, so a lookup is O(1)
/// while the variable keeps its place, and updated after a search. A wrong
/// hint costs one comparison; it is never trusted without checking.
#[inline]
fn position(entries: &[Entry], id: u64, hint: &AtomicU32) -> Option<usize> {
    let guess = hint.load(Ordering::Relaxed) as usize;
    if entries.get(guess).is_some_and(|e| e.id == id) {
        return Some(guess);
    }
    let i = entries.binary_search_by_key(&id, |e| e.id).ok()?;
    if let Ok(hinted) = u32::try_from(i) {
        hint.store(hinted, Ordering::Relaxed);
    }
    Some(i)
}

/// Sets or removes `id`'s value in `entries`; returns the value taken out.
fn edit(
    entries: &mut Vec<Entry>,
    id: u64,
    name: &'static str,
    value: Option<Value>,
) -> Option<Value> {
    match (entries.binary_search_by_key(&id, |e| e.id), value) {
        (Ok(i), Some(value)) => Some(mem::replace(&mut entries[i].value, value)),
        (Ok(i), None) => Some(entries.remove(i).value),
        (Err(i), Some(value)) => {
            entries.insert(i, Entry { id, name, value });
            None
        }
        (Err(_), None) => None,
    }
}

/// Values taken out of a mapping, dropped after the thread-local borrow ends.
#[derive(Default)]
#[must_use]
pub(super) struct Garbage {
    /// The value replaced or removed.
    pub(super) value: Option<Value>,
    /// The mapping replaced by a copy, if it was shared.
    pub(super) vars: Option<Arc<Vec<Entry>>>,
}

/// What all handles of one [`Context`](super::Context) share.
pub(super) struct Inner {
    /// Identity, shared by all handles, never 0.
    pub(super) id: u64,
    /// Set while the context is entered (current on a thread, or shadowed
    /// there by a context entered inside it).
    pub(super) entered: AtomicBool,
    /// The mapping whenever it is not current on a thread: idle, or entered
    /// but shadowed (parked here by [`swap_current`]). While it is current on
    /// a thread, the live mapping is that thread's and this is a snapshot of
    /// it as of the moment it became current there.
    pub(super) vars: Mutex<Vars>,
}

impl Inner {
    pub(super) fn new(vars: Vars) -> Self {
        Inner {
            id: next_context_id(),
            entered: AtomicBool::new(false),
            vars: Mutex::new(vars),
        }
    }
}

/// A context as it is entered on a thread: current there, or set aside by
/// the context entered over it.
#[derive(Default)]
pub(super) struct Current {
    /// The context's identity for tokens and `Context::get`; 0 until needed.
    pub(super) id: u64,
    /// The context's mapping while it is current. Empty while it is set
    /// aside, if it has `inner`: the mapping is parked there.
    pub(super) vars: Vars,
    /// The state the context's handles share, if it has any (a task's own
    /// context and a thread's first context have none).
    pub(super) inner: Option<Arc<Inner>>,
    /// The runner task this is the own context of, carried into any
    /// context entered over it (see [`TaskSlot`]).
    pub(super) task: TaskSlot,
}

/// Which runner task is being polled, as cancellation sees it. It rides in
/// the thread's current-context slot: a task's own context is swapped in
/// around each of its polls anyway, so marking the task costs a few more
/// bytes of that swap and no thread-local access of its own. Entering
/// another context (`Context::run`, a `Scope`) carries it over.
#[derive(Debug, Default)]
pub(crate) struct TaskSlot {
    /// What kind of task.
    pub(crate) kind: TaskKind,
    /// Its cancellation state, once it listens.
    pub(crate) listener: Option<Arc<CancelState>>,
}

impl TaskSlot {
    /// No runner task.
    const OUTSIDE: TaskSlot = TaskSlot {
        kind: TaskKind::Outside,
        listener: None,
    };
}

/// See [`TaskSlot`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskKind {
    /// No runner task: `task::cancelled()` never completes here.
    #[default]
    Outside,
    /// A run's main task.
    Main,
    /// A spawned runner task (or blocking closure).
    Spawned,
}

impl Current {
    const fn empty() -> Self {
        Current {
            id: 0,
            vars: Vars(None),
            inner: None,
            task: TaskSlot::OUTSIDE,
        }
    }

    /// A context of a handle, about to be entered: its mapping is taken from
    /// `inner` as it becomes current.
    pub(super) fn of(inner: Arc<Inner>) -> Self {
        Current {
            id: inner.id,
            vars: Vars::default(),
            inner: Some(inner),
            task: TaskSlot::OUTSIDE,
        }
    }

    /// A context with no handle, holding `vars`.
    pub(super) fn detached(vars: Vars) -> Self {
        Current {
            id: 0,
            vars,
            inner: None,
            task: TaskSlot::OUTSIDE,
        }
    }

    /// A throwaway copy of the context `id`, holding `vars`: it takes that
    /// context's identity, so that a token made there (a `SetGuard`'s, in
    /// cleanup) resets in the copy, which is discarded after.
    pub(super) fn throwaway(id: u64, vars: Vars) -> Self {
        Current {
            id,
            ..Current::detached(vars)
        }
    }

    #[inline]
    pub(super) fn id(&mut self) -> u64 {
        if self.id == 0 {
            self.id = next_context_id();
        }
        self.id
    }
}

thread_local! {
    pub(super) static CURRENT: RefCell<Current> = const { RefCell::new(Current::empty()) };
}

/// The thread's context storage is gone: the thread is tearing it down.
#[derive(Debug)]
pub(super) struct TornDown;

/// Makes `slot` the thread's current context and leaves the outgoing one in
/// `slot`: the one swap behind entering and leaving a context. The runner
/// task being polled stays marked: the incoming context takes the outgoing
/// one's [`TaskSlot`], and gives it back when the swap is undone. A context
/// that has handles takes its mapping back from its `Inner` as it becomes
/// current ([`resume`]) and parks it there as it stops being current
/// ([`park`]). So a handle always finds the current mapping: in the
/// thread-local if its context is current on the reading thread, else in its
/// `Inner`. A task's own context has no handles: for it this is a swap and
/// two branches.
///
/// Does nothing once the thread has torn its context storage down.
#[inline]
pub(super) fn swap_current(slot: &mut Current) -> Result<(), TornDown> {
    CURRENT
        .try_with(|cur| {
            let mut cur = cur.borrow_mut();
            mem::swap(&mut *cur, slot);
            mem::swap(&mut cur.task, &mut slot.task);
            if cur.inner.is_some() {
                resume(&mut cur);
            }
        })
        .map_err(|_| TornDown)?;
    if slot.inner.is_some() {
        park(slot);
    }
    Ok(())
}

/// [`swap_current`] for a context without handles (a task's own) going in:
/// only the outgoing one can have a mapping to park. The task poll path.
#[inline]
pub(super) fn swap_in_detached(slot: &mut Current) -> Result<(), TornDown> {
    debug_assert!(slot.inner.is_none());
    CURRENT
        .try_with(|cur| mem::swap(&mut *cur.borrow_mut(), slot))
        .map_err(|_| TornDown)?;
    if slot.inner.is_some() {
        park(slot);
    }
    Ok(())
}

/// [`swap_current`] for a context without handles going out: only the
/// incoming one can have a mapping to take back.
#[inline]
pub(super) fn swap_out_detached(slot: &mut Current) {
    let _ = CURRENT.try_with(|cur| {
        let mut cur = cur.borrow_mut();
        mem::swap(&mut *cur, slot);
        if cur.inner.is_some() {
            resume(&mut cur);
        }
    });
    debug_assert!(slot.inner.is_none());
}

/// Takes the mapping of a context with handles back from its `Inner` as it
/// becomes current: a clone, so that other threads still read it as of now
/// (the price: the first `set` after this copies the mapping once).
#[cold]
fn resume(cur: &mut Current) {
    let Current { vars, inner, .. } = cur;
    if let Some(inner) = inner {
        // It was parked, so `vars` is empty: nothing is dropped in the borrow.
        *vars = lock(&inner.vars).clone();
    }
}

/// Parks the live mapping of a context with handles in its `Inner` as it
/// stops being current: a move (no reference is left behind in the slot),
/// replacing the snapshot its handles read until now.
#[cold]
fn park(slot: &mut Current) {
    if let Some(inner) = &slot.inner {
        let snapshot = mem::replace(&mut *lock(&inner.vars), mem::take(&mut slot.vars));
        // Dropped outside the lock and the borrow: it may hold the last
        // reference to values whose `Drop` uses context variables.
        drop(snapshot);
    }
}

/// Runs `f` on the mark of the runner task being polled on this thread;
/// `None` once the thread's context storage is torn down.
pub(crate) fn with_task<R>(f: impl FnOnce(&mut TaskSlot) -> R) -> Option<R> {
    CURRENT.try_with(|cur| f(&mut cur.borrow_mut().task)).ok()
}

/// A snapshot of the current context's mapping (empty during teardown).
#[inline]
pub(super) fn current_vars() -> Vars {
    CURRENT
        .try_with(|cur| cur.borrow().vars.clone())
        .unwrap_or_default()
}

pub(super) fn next_context_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(super) fn next_var_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[inline]
pub(super) fn downcast<T: 'static>(value: &Value) -> &T {
    value
        .downcast_ref::<T>()
        .expect("a context variable's value always has the variable's type")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_the_mapping_sorted_and_shares_until_written() {
        let mut vars = Vars::default();
        let _ = vars.replace(3, "c", Some(Arc::new(3u32)));
        let _ = vars.replace(1, "a", Some(Arc::new(1u32)));
        let copy = vars.clone();
        let garbage = vars.replace(2, "b", Some(Arc::new(2u32)));
        assert!(garbage.vars.is_some(), "a shared mapping is copied");
        let ids: Vec<u64> = vars.entries().iter().map(|e| e.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(copy.entries().len(), 2);
        let garbage = vars.replace(1, "a", None);
        assert!(
            garbage.vars.is_none(),
            "a unique mapping is changed in place"
        );
        assert!(garbage.value.is_some());
        assert!(vars.find(1, &AtomicU32::new(0)).is_none());
    }

    #[test]
    fn a_stale_hint_is_checked_and_replaced() {
        let mut vars = Vars::default();
        for id in [2, 4, 6] {
            let _ = vars.replace(id, "v", Some(Arc::new(id as u32)));
        }
        let hint = AtomicU32::new(0);
        let value = |v: Option<&Value>| v.map(|v| *downcast::<u32>(v));
        assert_eq!(value(vars.find(6, &hint)), Some(6));
        assert_eq!(hint.load(Ordering::Relaxed), 2);
        assert_eq!(
            value(vars.find(4, &hint)),
            Some(4),
            "a wrong hint is not trusted"
        );
        assert_eq!(value(vars.find(5, &hint)), None);
        hint.store(99, Ordering::Relaxed);
        assert_eq!(
            value(vars.find(2, &hint)),
            Some(2),
            "an out-of-range hint is ignored"
        );
    }

    fn one_var(value: u32) -> Vars {
        let mut vars = Vars::default();
        let _ = vars.replace(1, "v", Some(Arc::new(value)));
        vars
    }

    #[test]
    fn a_context_set_aside_parks_its_mapping_by_move_and_takes_it_back() {
        std::thread::spawn(|| {
            let inner = Arc::new(Inner::new(one_var(1)));
            let mut slot = Current::of(inner.clone());
            swap_current(&mut slot).unwrap();
            assert_eq!(current_vars().entries().len(), 1, "taken from the Inner");
            // Another context comes in over it: its live mapping is parked.
            let _ = CURRENT.with_borrow_mut(|cur| cur.vars.replace(2, "w", Some(Arc::new(2u32))));
            let mut other = Current::detached(Vars::default());
            swap_current(&mut other).unwrap();
            assert!(other.vars.entries().is_empty(), "moved out of the slot");
            assert_eq!(lock(&inner.vars).entries().len(), 2, "the live mapping");
            swap_current(&mut other).unwrap();
            assert_eq!(current_vars().entries().len(), 2, "and back");
        })
        .join()
        .unwrap();
    }
}
