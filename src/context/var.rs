//! [`ContextVar`] and what its `set` hands back: [`Token`], [`SetGuard`],
//! and [`ContextError`] for a token used wrongly.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::storage::{CURRENT, Garbage, Value, downcast, next_var_id};

/// A context variable: a value that follows the logical flow of execution
/// into every task spawned from it, as Python's `contextvars.ContextVar`.
///
/// Declare it as a `static` (the constructors are `const`). Its value is
/// looked up in the current [`Context`](super::Context); `set` changes only the current
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
    pub(super) hint: AtomicU32,
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

    pub(super) fn id(&self) -> u64 {
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
    /// is dropped in another context than the one it was made in: it was
    /// moved out of its context, a misuse. A guard dropped in a throwaway copy
    /// of its context does not panic: that is where a [`Scope`](super::Scope)
    /// dropped while its context is entered elsewhere drops its future, and
    /// the guard resets the variable in the copy (which is then discarded,
    /// as everything set there).
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

#[cfg(test)]
mod tests {
    use super::*;

    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<String> = ContextVar::with_default("b", String::new());

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
}
