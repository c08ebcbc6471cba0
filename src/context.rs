//! Context variables with Python `contextvars` (PEP 567) semantics.
//!
//! Every thread has a *current context*: an immutable mapping from
//! [`ContextVar`]s to values, replaced (copy-on-write) by every `set`. Copying
//! it is O(1): the copy shares the mapping until one side writes.
//!
//! Storage: the mapping is an `Arc` of a vector sorted by variable id. For the
//! usual handful of variables this beats a HAMT on every operation, and a copy
//! is one reference count whatever the number of variables; a `set` costs a
//! vector copy only when the mapping is shared.
//!
//! The current context lives in a thread-local while it is entered, so `get`
//! and `set` never lock. A [`Context`] handle that is not entered keeps its
//! mapping behind a mutex that is only taken when the context is entered,
//! left, or read from outside. That shared state is made only when a
//! context gets a second handle or is entered, so `copy_context` itself is
//! one reference count and no allocation.
#![forbid(unsafe_code)]

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Poll;

type Value = Arc<dyn Any + Send + Sync>;

#[derive(Clone)]
struct Entry {
    id: u64,
    name: &'static str,
    value: Value,
}

/// An immutable mapping of variables to values; `None` is the empty mapping.
#[derive(Clone, Default)]
struct Vars(Option<Arc<Vec<Entry>>>);

impl Vars {
    fn entries(&self) -> &[Entry] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// `id`'s value; see [`position`] for `hint`.
    fn find(&self, id: u64, hint: &AtomicU32) -> Option<&Value> {
        let entries = self.entries();
        position(entries, id, hint).map(|i| &entries[i].value)
    }

    /// Replaces `id`'s value in place when nothing else shares it (neither
    /// the mapping nor the value) and it has type `T`: no allocation, the old
    /// value is handed back. Otherwise gives `value` back untouched.
    fn overwrite<T: Any>(&mut self, id: u64, hint: &AtomicU32, value: T) -> Result<T, T> {
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
    fn replace(&mut self, id: u64, name: &'static str, value: Option<Value>) -> Garbage {
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
struct Garbage {
    value: Option<Value>,
    vars: Option<Arc<Vec<Entry>>>,
}

/// The state of the context entered on a thread (or parked in a task).
#[derive(Default)]
struct Current {
    /// The context's identity for tokens and `Context::get`; 0 until needed.
    id: u64,
    /// The context's mapping.
    vars: Vars,
}

impl Current {
    const fn empty() -> Self {
        Current {
            id: 0,
            vars: Vars(None),
        }
    }

    fn id(&mut self) -> u64 {
        if self.id == 0 {
            self.id = next_context_id();
        }
        self.id
    }
}

thread_local! {
    static CURRENT: RefCell<Current> = const { RefCell::new(Current::empty()) };
}

fn next_context_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn next_var_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A context variable: a value that follows the logical flow of execution
/// into every task spawned from it, as Python's `contextvars.ContextVar`.
///
/// Declare it as a `static` (the constructors are `const`). Its value is
/// looked up in the current [`Context`]; `set` changes only the current
/// context, so a task's changes never leak into its parent or its siblings.
/// Two variables with the same name are still two variables.
///
/// # Examples
///
/// ```
/// use runner::ContextVar;
///
/// static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     REQUEST_ID.set(7);
///     let child = runner::spawn_local(async {
///         // The child started with a copy of the parent's context.
///         assert_eq!(REQUEST_ID.get(), Some(7));
///         REQUEST_ID.set(8);
///     });
///     child.await.unwrap();
///     // The child's change stayed in the child's copy.
///     assert_eq!(REQUEST_ID.get(), Some(7));
/// })
/// # }
/// ```
pub struct ContextVar<T: 'static> {
    /// The name given at construction, for messages and debugging.
    name: &'static str,
    /// Identity, assigned on first use (0 until then) so `new` can be const.
    id: AtomicU64,
    /// Where the variable was last found in a mapping: a lookup hint.
    hint: AtomicU32,
    /// What `get` returns when the current context holds no value.
    default: Option<T>,
}

impl<T: 'static> ContextVar<T> {
    /// Creates a variable with no default: `get` returns `None` until it is
    /// set in the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<String> = runner::ContextVar::new("user");
    /// assert_eq!(USER.get(), None);
    /// ```
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            hint: AtomicU32::new(0),
            default: None,
        }
    }

    /// Creates a variable whose `get` returns `default` when the current
    /// context holds no value. Usable in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static RETRIES: runner::ContextVar<u32> = runner::ContextVar::with_default("retries", 3);
    /// assert_eq!(RETRIES.get(), Some(3));
    /// ```
    pub const fn with_default(name: &'static str, default: T) -> Self {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            hint: AtomicU32::new(0),
            default: Some(default),
        }
    }

    /// The variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u8> = runner::ContextVar::new("v");
    /// assert_eq!(V.name(), "v");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> u64 {
        match self.id.load(Ordering::Relaxed) {
            0 => {
                let fresh = next_var_id();
                match self
                    .id
                    .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => fresh,
                    Err(won) => won,
                }
            }
            id => id,
        }
    }
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// Returns the variable's value in the current context, else its
    /// default, else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<&str> = runner::ContextVar::with_default("v", "default");
    /// assert_eq!(V.get(), Some("default"));
    /// V.set("set");
    /// assert_eq!(V.get(), Some("set"));
    /// ```
    ///
    /// # Panics
    ///
    /// The value is cloned while the current context is borrowed for
    /// reading (that keeps `get` at a few nanoseconds): a `Clone` impl that
    /// *sets* a context variable panics, as a `RefCell` would. Reading
    /// variables from `Clone` is fine.
    pub fn get(&self) -> Option<T> {
        let id = self.id();
        let found = CURRENT
            .try_with(|cur| {
                let cur = cur.borrow();
                cur.vars
                    .find(id, &self.hint)
                    .map(|v| downcast::<T>(v).clone())
            })
            .ok()
            .flatten();
        found.or_else(|| self.default.clone())
    }

    /// Sets the variable's value in the current context and returns a
    /// [`Token`] that [`reset`](Self::reset) takes to restore the previous
    /// value.
    ///
    /// While a thread tears its context down (a value's `Drop` running at
    /// thread exit), there is no context to set a value in: the value is
    /// dropped and the token resets nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let token = V.set(1);
    /// assert_eq!(V.get(), Some(1));
    /// V.reset(token).unwrap();
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn set(&self, value: T) -> Token<T> {
        let id = self.id();
        let set = CURRENT.try_with(|cur| {
            let mut cur = cur.borrow_mut();
            let context = cur.id();
            // Re-setting a variable this context alone holds: in place.
            let old = match cur.vars.overwrite(id, &self.hint, value) {
                Ok(old) => Ok(Old::Owned(old)),
                Err(value) => Err(cur.vars.replace(id, self.name, Some(Arc::new(value)))),
            };
            (context, old)
        });
        // The thread is tearing its context down (a value's `Drop` sets a
        // variable): there is no context left to set it in. Context 0 is no
        // context's, so the token resets nothing.
        let (context, old) = set.unwrap_or((0, Ok(Old::Missing)));
        let old = old.unwrap_or_else(|Garbage { value, vars }| {
            drop(vars);
            value.map_or(Old::Missing, Old::Shared)
        });
        Token {
            var: id,
            var_name: self.name,
            context,
            old,
        }
    }

    /// Restores the value the variable had before the `set` that returned
    /// `token`.
    ///
    /// The token is consumed, so Python's "token has already been used" error
    /// cannot be written.
    ///
    /// # Errors
    ///
    /// [`ContextError::WrongVar`] if the token came from another variable,
    /// [`ContextError::WrongContext`] if it was made in another context.
    ///
    /// # Examples
    ///
    /// ```
    /// static A: runner::ContextVar<u32> = runner::ContextVar::new("a");
    /// static B: runner::ContextVar<u32> = runner::ContextVar::new("b");
    /// let token = A.set(1);
    /// assert!(matches!(B.reset(token), Err(runner::ContextError::WrongVar { .. })));
    /// ```
    pub fn reset(&self, token: Token<T>) -> Result<(), ContextError> {
        let id = self.id();
        if token.var != id {
            return Err(ContextError::WrongVar {
                token_var: token.var_name,
                var: self.name,
            });
        }
        let reset = CURRENT.try_with(|cur| {
            let mut cur = cur.borrow_mut();
            if cur.id != token.context {
                return Err(ContextError::WrongContext { var: self.name });
            }
            let old = match token.old {
                Old::Missing => None,
                Old::Shared(value) => Some(value),
                Old::Owned(value) => match cur.vars.overwrite(id, &self.hint, value) {
                    Ok(replaced) => return Ok((Some(replaced), Garbage::default())),
                    Err(value) => Some(Arc::new(value) as Value),
                },
            };
            Ok((None, cur.vars.replace(id, self.name, old)))
        });
        // Dropped here, outside the borrow: values' `Drop` may use variables.
        // During the thread's teardown there is nothing left to reset.
        drop(reset.unwrap_or(Ok((None, Garbage::default())))?);
        Ok(())
    }

    /// Sets the variable for as long as the returned guard lives, then resets
    /// it: Python 3.14's `with var.set(value):`.
    ///
    /// # Panics
    ///
    /// The guard's drop panics (unless the thread is already panicking) if it
    /// is dropped in another context than the one it was made in.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// {
    ///     let _scoped = V.set_scoped(5);
    ///     assert_eq!(V.get(), Some(5));
    /// }
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn set_scoped(&self, value: T) -> SetGuard<'_, T> {
        SetGuard {
            var: self,
            token: Some(self.set(value)),
        }
    }
}

impl<T: 'static> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .field("has_default", &self.default.is_some())
            .finish()
    }
}

fn downcast<T: 'static>(value: &Value) -> &T {
    value
        .downcast_ref::<T>()
        .expect("a context variable's value always has the variable's type")
}

/// What [`ContextVar::set`] returns: the way back to the previous value.
///
/// Pass it to [`ContextVar::reset`]. Dropping it unused is fine.
///
/// # Examples
///
/// ```
/// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
/// V.set(1);
/// let token = V.set(2);
/// assert_eq!(token.old_value(), Some(&1));
/// V.reset(token).unwrap();
/// assert_eq!(V.get(), Some(1));
/// ```
pub struct Token<T> {
    /// Id of the variable that was set.
    var: u64,
    /// Name of that variable, for error messages.
    var_name: &'static str,
    /// Id of the context the value was set in.
    context: u64,
    /// The value before the `set`.
    old: Old<T>,
}

/// A token's old value.
enum Old<T> {
    /// The variable had no value.
    Missing,
    /// Taken out of a mapping shared with other contexts.
    Shared(Value),
    /// Moved out by an in-place `set` (no allocation on either side).
    Owned(T),
}

impl<T: 'static> Token<T> {
    /// The value the variable had before the `set`, if it had one (Python's
    /// `Token.old_value`, with `None` for `Token.MISSING`).
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// assert_eq!(V.set(1).old_value(), None);
    /// ```
    pub fn old_value(&self) -> Option<&T> {
        match &self.old {
            Old::Missing => None,
            Old::Shared(value) => Some(downcast::<T>(value)),
            Old::Owned(value) => Some(value),
        }
    }

    /// The name of the variable the token belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// assert_eq!(V.set(1).var_name(), "v");
    /// ```
    pub fn var_name(&self) -> &'static str {
        self.var_name
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("var", &self.var_name)
            .field("has_old_value", &!matches!(self.old, Old::Missing))
            .finish()
    }
}

/// Resets a variable when dropped; see [`ContextVar::set_scoped`].
///
/// # Examples
///
/// ```
/// static LEVEL: runner::ContextVar<u8> = runner::ContextVar::with_default("level", 0);
/// fn nested() -> Option<u8> {
///     let _guard = LEVEL.set_scoped(LEVEL.get().unwrap_or(0) + 1);
///     LEVEL.get()
/// }
/// assert_eq!(nested(), Some(1));
/// assert_eq!(LEVEL.get(), Some(0));
/// ```
#[must_use = "the variable is reset as soon as the guard is dropped"]
pub struct SetGuard<'a, T: Clone + Send + Sync + 'static> {
    /// The variable to reset.
    var: &'a ContextVar<T>,
    /// The token of the `set`; `None` once used.
    token: Option<Token<T>>,
}

impl<T: Clone + Send + Sync + 'static> Drop for SetGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            if let Err(err) = self.var.reset(token) {
                if !std::thread::panicking() {
                    panic!("{err}");
                }
            }
        }
    }
}

impl<T: Clone + Send + Sync + 'static> fmt::Debug for SetGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetGuard")
            .field("var", &self.var.name)
            .finish()
    }
}

/// Misuse of a [`Token`].
///
/// # Examples
///
/// ```
/// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
/// let token = V.set(1);
/// let err = runner::Context::new().run(|| V.reset(token)).unwrap_err();
/// assert!(matches!(err, runner::ContextError::WrongContext { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextError {
    /// The token was created by another variable's `set`.
    WrongVar {
        /// The variable the token belongs to.
        token_var: &'static str,
        /// The variable `reset` was called on.
        var: &'static str,
    },
    /// The token was created in another context than the current one.
    WrongContext {
        /// The variable the token belongs to.
        var: &'static str,
    },
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::WrongVar { token_var, var } => write!(
                f,
                "token was created by a different ContextVar (`{token_var}`), not `{var}`: \
                 reset a variable with the token its own `set` returned"
            ),
            ContextError::WrongContext { var } => write!(
                f,
                "token for `{var}` was created in a different Context: reset it in the \
                 context (task) that called `set`"
            ),
        }
    }
}

impl std::error::Error for ContextError {}

/// A context: a mapping of [`ContextVar`]s to values, Python's
/// `contextvars.Context`.
///
/// A `Context` is a handle: a clone is another handle to the same context (a
/// second Python reference), [`copy`](Self::copy) makes an independent one.
/// Run code in it with [`run`](Self::run) or, for a future,
/// [`scope`](Self::scope); a context can be entered by one caller at a time.
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

struct Inner {
    /// Identity, shared by all handles, never 0.
    id: u64,
    /// Set while some thread has the context entered.
    entered: AtomicBool,
    /// The mapping while not entered; while entered, the live mapping is in
    /// the entering thread's local storage and this is the snapshot taken
    /// when it was entered.
    vars: Mutex<Vars>,
}

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
        self.shared.get_or_init(|| {
            let vars = lock(&self.unshared).take().unwrap_or_default();
            Arc::new(Inner {
                id: next_context_id(),
                entered: AtomicBool::new(false),
                vars: Mutex::new(vars),
            })
        })
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

    /// A snapshot of the mapping: live from the thread-local if this context
    /// is the one entered on this thread.
    fn vars(&self) -> Vars {
        if self.shared.get().is_none() {
            if let Some(vars) = &*lock(&self.unshared) {
                return vars.clone();
            }
            // Moved to `shared` meanwhile: read it there.
        }
        let inner = self.inner();
        let id = inner.id;
        let live = CURRENT.try_with(|cur| {
            let cur = cur.borrow();
            (cur.id == id).then(|| cur.vars.clone())
        });
        match live {
            Ok(Some(vars)) => vars,
            _ => lock(&inner.vars).clone(),
        }
    }

    /// Runs `f` with this context as the current one, then restores the
    /// previous context, also when `f` panics.
    ///
    /// Changes `f` makes with [`ContextVar::set`] stay in this context.
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

    fn enter(&self) -> Entered<'_> {
        let inner = &**self.inner();
        if inner.entered.swap(true, Ordering::Acquire) {
            panic!(
                "cannot enter context: it is already entered (a Context can be run by \
                 one caller at a time; use `Context::copy` for a second one)"
            );
        }
        // The mutex keeps a snapshot, so a reader on another thread sees the
        // values as of entering rather than an empty mapping.
        let vars = lock(&inner.vars).clone();
        let entered = Current { id: inner.id, vars };
        let prev = CURRENT.with_borrow_mut(|cur| mem::replace(cur, entered));
        Entered { inner, prev }
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

    /// The names of the variables set in this context, in the order they
    /// were created. For debugging: names need not be unique.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let ctx = runner::Context::new();
    /// ctx.run(|| V.set(1));
    /// assert_eq!(ctx.var_names(), vec!["v"]);
    /// ```
    pub fn var_names(&self) -> Vec<&'static str> {
        self.vars().entries().iter().map(|e| e.name).collect()
    }

    /// Wraps `future` so that every poll of it runs in this context; the
    /// previous context is restored after each poll, also when it panics.
    ///
    /// This is how a task runs in its context (asyncio's
    /// `create_task(coro, context=ctx)`).
    ///
    /// # Panics
    ///
    /// A poll panics if the context is already entered elsewhere at that
    /// moment (see [`run`](Self::run)).
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
        Scope { ctx: self, future }
    }
}

impl Context {
    /// [`scope`](Self::scope) through a borrowed handle: how a runner runs
    /// its main task in its own context without cloning the handle per run.
    pub(crate) fn scope_ref<F: Future>(&self, future: F) -> ScopeRef<'_, F> {
        ScopeRef { ctx: self, future }
    }
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("vars", &self.var_names())
            .field(
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
struct Entered<'a> {
    inner: &'a Inner,
    prev: Current,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let prev = mem::take(&mut self.prev);
        let cur = CURRENT.with_borrow_mut(|cur| mem::replace(cur, prev));
        let snapshot = mem::replace(&mut *lock(&self.inner.vars), cur.vars);
        self.inner.entered.store(false, Ordering::Release);
        // Dropped outside the lock: it may hold the last reference to values.
        drop(snapshot);
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

/// Nothing panics while one of these locks is held, so poison carries no
/// meaning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn current_vars() -> Vars {
    CURRENT
        .try_with(|cur| cur.borrow().vars.clone())
        .unwrap_or_default()
}

pin_project_lite::pin_project! {
    /// A future that runs in a given [`Context`]; see [`Context::scope`].
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let ctx = runner::Context::new();
    /// let scoped: runner::Scope<_> = ctx.clone().scope(async { V.set(1) });
    /// runner::run(scoped).unwrap();
    /// assert_eq!(ctx.get(&V), Some(1));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Scope<F> {
        ctx: Context,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.ctx.enter();
        this.future.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// A future that runs in a borrowed [`Context`]; see `Context::scope_ref`.
    pub(crate) struct ScopeRef<'a, F> {
        ctx: &'a Context,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for ScopeRef<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.ctx.enter();
        this.future.poll(cx)
    }
}

impl<F> fmt::Debug for Scope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("ctx", &self.ctx).finish()
    }
}

/// A task's own context: a copy taken at spawn that no one else can enter,
/// so entering it is a swap with the thread-local, with no lock or flag.
#[derive(Default)]
pub(crate) struct TaskContext(Current);

impl TaskContext {
    /// Copies the current context.
    pub(crate) fn capture() -> Self {
        TaskContext(Current {
            id: 0,
            vars: current_vars(),
        })
    }

    /// Makes this context current until the guard drops.
    pub(crate) fn enter(&mut self) -> TaskEntered<'_> {
        CURRENT.with_borrow_mut(|cur| mem::swap(cur, &mut self.0));
        TaskEntered(&mut self.0)
    }

    /// Runs `f` in this context.
    pub(crate) fn run<R>(mut self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }
}

/// Swaps a [`TaskContext`] back out when dropped.
pub(crate) struct TaskEntered<'a>(&'a mut Current);

impl Drop for TaskEntered<'_> {
    fn drop(&mut self) {
        CURRENT.with_borrow_mut(|cur| mem::swap(cur, self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<String> = ContextVar::with_default("b", String::new());

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

    #[test]
    fn default_is_returned_until_set() {
        std::thread::spawn(|| {
            assert_eq!(B.get().as_deref(), Some(""));
            B.set("x".into());
            assert_eq!(B.get().as_deref(), Some("x"));
            assert_eq!(A.get(), None);
        })
        .join()
        .unwrap();
    }

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
    fn task_context_is_a_copy() {
        std::thread::spawn(|| {
            A.set(1);
            let mut task = TaskContext::capture();
            {
                let _in = task.enter();
                assert_eq!(A.get(), Some(1));
                A.set(2);
            }
            assert_eq!(A.get(), Some(1));
            assert_eq!(task.run(|| A.get()), Some(2));
        })
        .join()
        .unwrap();
    }
}
