//! [`Context`]: a handle to a context, shared by its clones, and how a
//! handle finds the context's mapping in whatever state it is in.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use super::scope::{Scope, ScopeRef, Scoped};
use super::storage::{CURRENT, Current, Inner, Vars, current_vars, downcast, swap_current};
use super::var::ContextVar;
use crate::sync::{lock, try_lock};

/// A context: a mapping of [`ContextVar`]s to values, Python's
/// `contextvars.Context`.
///
/// A `Context` is a handle: a clone is another handle to the same context (a
/// second Python reference), [`copy`](Self::copy) makes an independent one.
/// Run code in it with [`run`](Self::run) or, for a future,
/// [`scope`](Self::scope); a context can be entered by one caller at a time.
///
/// Reading through a handle ([`get`](Self::get), [`contains`](Self::contains),
/// [`len`](Self::len), [`var_names`](Self::var_names), [`copy`](Self::copy),
/// `Debug`) sees the context's current values whether it is idle, entered, or
/// entered and shadowed by another context entered inside it (a nested
/// `run`, a [`Scope`], a task polled there). One exception: while the context
/// is current on one thread, another thread reads it as it was when it last
/// became current there (it was entered, or the context shadowing it was
/// left), because the live values are that thread's own.
///
/// # Examples
///
/// ```
/// use runner::{Context, ContextVar};
///
/// static V: ContextVar<u32> = ContextVar::new("v");
///
/// let ctx = Context::new();
/// ctx.run(|| V.set(1));
/// assert_eq!(V.get(), None); // the current context did not change
/// assert_eq!(ctx.get(&V), Some(1));
/// assert_eq!(ctx.run(|| V.get()), Some(1));
/// ```
pub struct Context {
    /// What every handle of this context shares, made on first need (a
    /// `clone`, entering it): until then this handle is the only one, no one
    /// can change the mapping, and a copy costs one reference count.
    shared: OnceLock<Arc<Inner>>,
    /// The mapping until `shared` is made, which moves it there (`None`
    /// from then on).
    unshared: Mutex<Option<Vars>>,
}

/// [`Context::try_enter`] found the context entered already.
pub(super) struct AlreadyEntered;

impl Context {
    /// Creates an empty context.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(runner::Context::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Context::from_vars(Vars::default())
    }

    fn from_vars(vars: Vars) -> Self {
        Context {
            shared: OnceLock::new(),
            unshared: Mutex::new(Some(vars)),
        }
    }

    /// The state all handles share, made now if this is the first need.
    fn inner(&self) -> &Arc<Inner> {
        self.shared
            .get_or_init(|| Arc::new(Inner::new(lock(&self.unshared).take().unwrap_or_default())))
    }

    /// Returns an independent copy of this context (O(1)).
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let a = runner::Context::new();
    /// a.run(|| V.set(1));
    /// let b = a.copy();
    /// b.run(|| V.set(2));
    /// assert_eq!((a.get(&V), b.get(&V)), (Some(1), Some(2)));
    /// ```
    pub fn copy(&self) -> Context {
        Context::from_vars(self.vars())
    }

    /// The context's current mapping (a snapshot: one reference count).
    pub(super) fn vars(&self) -> Vars {
        if self.shared.get().is_none() {
            if let Some(vars) = &*lock(&self.unshared) {
                return vars.clone();
            }
            // Moved to `shared` meanwhile: read it there.
        }
        let inner = self.inner();
        match self.live_here(inner) {
            Some(vars) => vars,
            None => lock(&inner.vars).clone(),
        }
    }

    /// [`vars`](Self::vars) without waiting for a lock: `None` if another
    /// thread holds it at this moment.
    fn try_vars(&self) -> Option<Vars> {
        if self.shared.get().is_none() {
            if let Some(vars) = &*try_lock(&self.unshared)? {
                return Some(vars.clone());
            }
        }
        let inner = self.shared.get()?;
        match self.live_here(inner) {
            Some(vars) => Some(vars),
            None => try_lock(&inner.vars).map(|vars| vars.clone()),
        }
    }

    /// The live mapping, if this context is the one current on this thread.
    fn live_here(&self, inner: &Inner) -> Option<Vars> {
        CURRENT
            .try_with(|cur| {
                let cur = cur.borrow();
                (cur.id == inner.id).then(|| cur.vars.clone())
            })
            .ok()
            .flatten()
    }

    /// The context's identity (what its tokens name).
    pub(super) fn id(&self) -> u64 {
        self.inner().id
    }

    /// Whether this context is the one current on this thread.
    pub(super) fn is_current_here(&self) -> bool {
        self.shared
            .get()
            .is_some_and(|inner| CURRENT.try_with(|cur| cur.borrow().id == inner.id) == Ok(true))
    }

    /// Runs `f` with this context as the current one, then restores the
    /// previous context, also when `f` panics.
    ///
    /// Changes `f` makes with [`ContextVar::set`] stay in this context.
    ///
    /// While the thread tears its context storage down (a context value's
    /// or a thread-local's `Drop` running at thread exit), there is no
    /// current context to replace: `f` then runs without entering, with no
    /// context at all (variables read their defaults, `set` is discarded),
    /// and this context is left unchanged.
    ///
    /// # Panics
    ///
    /// Panics if the context is already entered (by an enclosing `run`, a
    /// [`scope`](Self::scope) being polled, or another thread), as Python
    /// raises `RuntimeError` and as a second `RefCell::borrow_mut` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let ctx = runner::Context::new();
    /// let seen = ctx.run(|| {
    ///     V.set(3);
    ///     V.get()
    /// });
    /// assert_eq!(seen, Some(3));
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Makes this context current until the guard drops.
    ///
    /// # Panics
    ///
    /// If the context is already entered.
    pub(super) fn enter(&self) -> Entered<'_> {
        match self.try_enter() {
            Ok(entered) => entered,
            Err(AlreadyEntered) => panic!(
                "cannot enter context: it is already entered (a Context can be run by \
                 one caller at a time; use `Context::copy` for a second one)"
            ),
        }
    }

    /// Makes this context current until the guard drops, unless it is
    /// entered already. During thread teardown the guard enters nothing.
    pub(super) fn try_enter(&self) -> Result<Entered<'_>, AlreadyEntered> {
        let inner = self.inner();
        if inner.entered.swap(true, Ordering::Acquire) {
            return Err(AlreadyEntered);
        }
        let mut prev = Current::of(inner.clone());
        if swap_current(&mut prev).is_err() {
            inner.entered.store(false, Ordering::Release);
            return Ok(Entered { inner, prev: None });
        }
        Ok(Entered {
            inner,
            prev: Some(prev),
        })
    }

    /// Returns `var`'s value in this context, or `None` if it has none.
    ///
    /// Like Python's `Context.get`, this reads the mapping only: the
    /// variable's default is not consulted.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::with_default("v", 9);
    /// let ctx = runner::copy_context();
    /// assert_eq!(ctx.get(&V), None);
    /// ```
    pub fn get<T: Clone + Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<T> {
        self.vars()
            .find(var.id(), &var.hint)
            .map(|v| downcast::<T>(v).clone())
    }

    /// Whether `var` has a value in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let ctx = runner::Context::new();
    /// ctx.run(|| V.set(1));
    /// assert!(ctx.contains(&V));
    /// ```
    pub fn contains<T: 'static>(&self, var: &ContextVar<T>) -> bool {
        self.vars().find(var.id(), &var.hint).is_some()
    }

    /// How many variables have a value in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(runner::Context::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.vars().entries().len()
    }

    /// Whether no variable has a value in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(runner::Context::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names of the variables set in this context, in the order the
    /// variables were first used in this process (a variable gets its
    /// identity the first time it is read or set, since a `static`'s
    /// creation cannot be observed). For debugging: names need not be
    /// unique.
    ///
    /// # Examples
    ///
    /// ```
    /// static A: runner::ContextVar<u32> = runner::ContextVar::new("a");
    /// static B: runner::ContextVar<u32> = runner::ContextVar::new("b");
    /// assert_eq!(B.get(), None); // B is used first
    /// let ctx = runner::Context::new();
    /// ctx.run(|| {
    ///     A.set(1);
    ///     B.set(2);
    /// });
    /// assert_eq!(ctx.var_names(), vec!["b", "a"]);
    /// ```
    pub fn var_names(&self) -> Vec<&'static str> {
        names(&self.vars())
    }

    /// Wraps `future` so that every poll of it runs in this context; the
    /// previous context is restored after each poll, also when it panics.
    ///
    /// This is how a task runs in its context (asyncio's
    /// `create_task(coro, context=ctx)`). The future is dropped inside the
    /// context too, so its cleanup (`Drop`) sees the context's values: as
    /// soon as it completes, or when the `Scope` is dropped (cancelled,
    /// never polled, or after a panic). If the context is entered elsewhere
    /// at that moment, it is dropped in a throwaway copy of the context
    /// instead: it still sees the values, and its `set`s go nowhere; a
    /// [`SetGuard`](crate::SetGuard) made in the context resets its
    /// variable in the copy, without panicking.
    ///
    /// # Panics
    ///
    /// A poll panics if the context is already entered elsewhere at that
    /// moment (see [`run`](Self::run)), and if the future already completed.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let ctx = runner::Context::new();
    ///     ctx.clone().scope(async { V.set(4) }).await;
    ///     assert_eq!(ctx.get(&V), Some(4));
    ///     assert_eq!(V.get(), None);
    /// })
    /// # }
    /// ```
    pub fn scope<F: Future>(self, future: F) -> Scope<F> {
        Scope::new(Scoped::new(self, future))
    }

    /// [`scope`](Self::scope) through a borrowed handle: how a runner runs
    /// its main task in its own context without cloning the handle per run.
    pub(crate) fn scope_ref<F: Future>(&self, future: F) -> ScopeRef<'_, F> {
        Scoped::new(self, future)
    }
}

fn names(vars: &Vars) -> Vec<&'static str> {
    vars.entries().iter().map(|e| e.name).collect()
}

impl Clone for Context {
    /// Another handle to the same context (not a copy: see
    /// [`copy`](Self::copy)).
    fn clone(&self) -> Self {
        Context {
            shared: OnceLock::from(self.inner().clone()),
            unshared: Mutex::new(None),
        }
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl fmt::Debug for Context {
    /// Never blocks: if another thread holds the context's lock at this
    /// moment, the variables show as `<locked>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Locked;
        impl fmt::Debug for Locked {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<locked>")
            }
        }
        let mut s = f.debug_struct("Context");
        match self.try_vars() {
            Some(vars) => s.field("vars", &names(&vars)),
            None => s.field("vars", &Locked),
        };
        s.field(
            "entered",
            &self
                .shared
                .get()
                .is_some_and(|inner| inner.entered.load(Ordering::Relaxed)),
        )
        .finish()
    }
}

/// Leaves an entered [`Context`] when dropped.
pub(super) struct Entered<'a> {
    /// The context entered.
    inner: &'a Inner,
    /// The context it shadows, to restore; `None` if nothing was entered
    /// (thread teardown).
    prev: Option<Current>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(mut prev) = self.prev.take() {
            // The context's mapping is parked in its `Inner` by the swap.
            let _ = swap_current(&mut prev);
            self.inner.entered.store(false, Ordering::Release);
        }
    }
}

/// Returns a copy of the current context (O(1)), Python's
/// `contextvars.copy_context()`.
///
/// # Examples
///
/// ```
/// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
/// V.set(1);
/// let snapshot = runner::copy_context();
/// V.set(2);
/// assert_eq!(snapshot.get(&V), Some(1));
/// ```
pub fn copy_context() -> Context {
    Context::from_vars(current_vars())
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: ContextVar<u32> = ContextVar::new("a");

    #[test]
    fn clones_share_one_context_whichever_handle_made_it_shared() {
        std::thread::spawn(|| {
            A.set(1);
            let original = copy_context();
            let copy = original.copy();
            let handle = original.clone();
            handle.run(|| A.set(2));
            assert_eq!(original.get(&A), Some(2));
            assert_eq!(copy.get(&A), Some(1), "a copy is independent");
            original.run(|| assert_eq!(A.get(), Some(2)));
            assert_eq!(copy.clone().get(&A), Some(1));
            assert_eq!(A.get(), Some(1));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_unshared_context_made_shared_on_another_thread_keeps_its_mapping() {
        std::thread::spawn(|| {
            A.set(5);
            let ctx = copy_context();
            let handles: Vec<Context> = std::thread::scope(|s| {
                let workers: Vec<_> = (0..4).map(|_| s.spawn(|| ctx.clone())).collect();
                assert_eq!(ctx.get(&A), Some(5));
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            handles[0].run(|| A.set(6));
            assert!(handles.iter().all(|h| h.get(&A) == Some(6)));
            assert_eq!(ctx.get(&A), Some(6));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn debug_shows_locked_instead_of_waiting_for_another_thread() {
        let ctx = Context::new();
        ctx.run(|| A.set(1));
        let inner = ctx.inner().clone();
        let held = lock(&inner.vars);
        let text = std::thread::scope(|s| s.spawn(|| format!("{ctx:?}")).join().unwrap());
        drop(held);
        assert_eq!(text, "Context { vars: <locked>, entered: false }");
        assert_eq!(
            format!("{ctx:?}"),
            "Context { vars: [\"a\"], entered: false }"
        );
    }
}
