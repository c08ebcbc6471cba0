//! The crate's two ways to take a lock. Nothing in this crate panics while it
//! holds one of its locks, so poison carries no meaning and is ignored; and
//! readers that must not wait on a thread that may be stuck (the task dump,
//! `Context`'s `Debug`, the last words before a kill) use [`try_lock`].
#![forbid(unsafe_code)]

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Locks `mutex`, ignoring poison.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `mutex` if no other thread holds it (ignoring poison); `None`
/// rather than waiting.
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
