//! Making a Tokio [`JoinError`] for a panic that a runner task caught, or
//! for a task that dropped its own future.
//!
//! A runner task does not unwind into Tokio (its panic becomes its output, so
//! that a panic nobody reads is reported: see `debug/lost.rs`), so Tokio
//! never made the `JoinError` its `JoinHandle` must give back. Tokio offers
//! no constructor: the only way to get one is for a Tokio task to panic. So
//! a short task on a private runtime resumes the payload and its
//! `JoinError` is handed back: `is_panic()` is true and `into_panic()` gives
//! the user's own payload. Its `id()` is that short task's; the runner
//! `JoinHandle::id()` of the task that panicked is the one to use. This runs
//! only when a panic is retrieved, never on a task's ordinary paths.
#![forbid(unsafe_code)]

use std::any::Any;
use std::panic::resume_unwind;

use tokio::task::JoinError;

/// A `JoinError` whose panic payload is `payload`. Runs on a thread of its
/// own (the caller may be inside a runtime, where no other can be driven).
///
/// If no thread can be started, the panic is resumed here instead: the
/// caller of the handle panics with the task's payload, as
/// `std::thread::scope` resumes a scoped thread's panic.
pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> JoinError {
    let made = std::thread::scope(|scope| {
        let maker = std::thread::Builder::new()
            .name("runner-join-error".into())
            .spawn_scoped(scope, move || rethrown(payload));
        match maker {
            Ok(maker) => Ok(maker.join()),
            Err(_) => Err(()),
        }
    });
    match made {
        Ok(Ok(Ok(err))) => err,
        // The private runtime could not be built: the payload came back.
        Ok(Ok(Err(payload))) => resume_unwind(payload),
        Ok(Err(panic)) => resume_unwind(panic),
        Err(()) => panic!("runner: no thread to rebuild a task's panic for its JoinHandle"),
    }
}

/// A cancelled `JoinError`, for a task that dropped its own future (its
/// runner closed, or its cancel grace expired) and so was never aborted by
/// Tokio. Made as [`panicked`] is, by aborting a short task.
pub(crate) fn cancelled() -> JoinError {
    let made = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("runner-join-error".into())
            .spawn_scoped(scope, aborted)
            .ok()
            .and_then(|maker| maker.join().ok())
            .flatten()
    });
    made.unwrap_or_else(|| panic!("runner: no thread to make a cancelled JoinError"))
}

/// The `JoinError` of a Tokio task aborted before it ran.
fn aborted() -> Option<JoinError> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
    let task = runtime.spawn(std::future::pending::<()>());
    task.abort();
    runtime.block_on(task).err()
}

/// Resumes `payload` in a Tokio task and returns the task's `JoinError`.
fn rethrown(payload: Box<dyn Any + Send>) -> Result<JoinError, Box<dyn Any + Send>> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return Err(payload);
    };
    let task = runtime.spawn(async move { resume(payload) });
    match runtime.block_on(task) {
        Err(err) => Ok(err),
        Ok(()) => unreachable!("the task resumed a panic"),
    }
}

fn resume(payload: Box<dyn Any + Send>) {
    resume_unwind(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_error_carries_the_payload_itself() {
        let err = panicked(Box::new(String::from("boom")));
        assert!(err.is_panic());
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("boom")
        );
    }

    #[test]
    fn a_cancelled_join_error_is_cancelled() {
        assert!(cancelled().is_cancelled());
    }

    #[test]
    fn it_can_be_made_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(async { panicked(Box::new(7u8)) });
        assert_eq!(err.into_panic().downcast_ref::<u8>(), Some(&7));
    }
}
