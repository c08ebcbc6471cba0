//! The error type of the runner API.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::panic::Location;

/// What went wrong when starting, running or closing a loop.
///
/// Every variant's [`Display`](fmt::Display) says what happened and what to
/// do about it.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// let mut runner = runner::Runner::new();
/// runner.close();
/// let err = runner.run(async {}).unwrap_err();
/// assert!(matches!(err, runner::Error::Closed));
/// assert!(err.to_string().contains("closed"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `run` was called on a thread that is already driving an event loop:
    /// a runner's, or a Tokio runtime's (`#[tokio::main]`, a task, or a
    /// thread that entered a runtime handle).
    ///
    /// asyncio raises `RuntimeError("asyncio.run() cannot be called from a
    /// running event loop")` here. Inside async code, `.await` the future
    /// instead; from blocking code, move the call into
    /// [`spawn_blocking`](crate::spawn_blocking) or a plain thread.
    NestedRun,
    /// The runner was closed; it cannot run anything any more.
    Closed,
    /// The main task was cancelled by Ctrl-C (SIGINT; on Windows also
    /// Ctrl-Break), or by SIGTERM when
    /// [`Builder::handle_sigterm`](crate::Builder::handle_sigterm) is on.
    ///
    /// This is asyncio's `KeyboardInterrupt`. `#[runner::main]` turns it into
    /// exit status 130.
    ///
    /// It does not say which of those signals it was: the variant has no
    /// fields, so that `matches!(err, Error::Interrupted)` keeps working, and
    /// its message names each signal that can cause it.
    Interrupted,
    /// The runtime could not be built (the default one, or the one returned
    /// by [`Builder::runtime`](crate::Builder::runtime)).
    Runtime(io::Error),
    /// A task panicked, nobody could retrieve the panic any more (its
    /// [`JoinHandle`](crate::JoinHandle) was dropped unread), and the runner
    /// was built with [`LostPanic::CancelMain`](crate::LostPanic::CancelMain):
    /// the main task was cancelled. `#[runner::test]` works this way, so a
    /// test whose background task panicked fails at once.
    TaskPanicked {
        /// The task's name (from `runner::task::Builder::name`), or
        /// `"unnamed"`.
        task: String,
        /// Where the task was spawned.
        spawned_at: &'static Location<'static>,
        /// The panic message.
        message: String,
    },
    /// Debug mode found that the main task can never run again: its last
    /// poll returned `Pending`, it was not woken, and no clone of its waker
    /// is left (a lost waker). With
    /// [`LostPanic::CancelMain`](crate::LostPanic::CancelMain) (as in
    /// `#[runner::test]`) the main task is cancelled rather than left to
    /// hang.
    LostWaker {
        /// The task's name (`"main"`).
        task: String,
        /// Where the run was called (for `#[runner::test]`, the test).
        spawned_at: &'static Location<'static>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NestedRun => f.write_str(
                "runner::run() cannot be called from a running event loop: this thread is \
                 already driving a runner or a Tokio runtime; `.await` the future instead, \
                 or start the new loop inside `runner::spawn_blocking` or a plain thread",
            ),
            Error::Closed => f.write_str(
                "the runner is closed: `Runner::run` and `Runner::handle` cannot be used after \
                 `Runner::close`; create a new `Runner`",
            ),
            Error::Interrupted => f.write_str(
                "the main task was interrupted (Ctrl-C, or SIGTERM when the runner handles it) \
                 and cancelled; its cleanup has run",
            ),
            Error::Runtime(err) => write!(f, "failed to build the Tokio runtime: {err}"),
            Error::TaskPanicked {
                task,
                spawned_at,
                message,
            } => write!(
                f,
                "task `{task}` spawned at {spawned_at} panicked and nobody can retrieve the \
                 panic (its JoinHandle was dropped without being awaited): {message}; the main \
                 task was cancelled (LostPanic::CancelMain). Await the task's JoinHandle to \
                 handle its panic, or build the runner with LostPanic::Report to only report it",
            ),
            Error::LostWaker { task, spawned_at } => write!(
                f,
                "the main task `{task}` run at {spawned_at} can never run again: its last poll \
                 returned Pending without keeping its waker, and nothing woke it (a lost waker); \
                 it was cancelled (LostPanic::CancelMain). The future it awaits must keep \
                 `cx.waker()` and wake it when ready; `std::future::pending()` never completes",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Runtime(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Runtime(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn nested_run_says_to_await() {
        let msg = Error::NestedRun.to_string();
        assert!(
            msg.contains("cannot be called from a running event loop"),
            "{msg}"
        );
        assert!(msg.contains(".await"), "{msg}");
    }

    #[test]
    fn closed_says_to_make_a_new_runner() {
        let msg = Error::Closed.to_string();
        assert!(msg.contains("closed"), "{msg}");
        assert!(msg.contains("new `Runner`"), "{msg}");
    }

    #[test]
    fn interrupted_mentions_ctrl_c() {
        assert!(Error::Interrupted.to_string().contains("Ctrl-C"));
    }

    #[test]
    fn interrupted_does_not_blame_ctrl_c_alone_since_sigterm_can_cause_it() {
        let msg = Error::Interrupted.to_string();
        assert!(msg.contains("SIGTERM"), "{msg}");
    }

    #[test]
    fn task_panicked_names_the_task_its_site_and_the_panic() {
        let at = Location::caller();
        let msg = Error::TaskPanicked {
            task: "fetch".into(),
            spawned_at: at,
            message: "boom".into(),
        }
        .to_string();
        assert!(msg.contains("task `fetch`"), "{msg}");
        assert!(msg.contains(&at.to_string()), "{msg}");
        assert!(msg.contains(": boom;"), "{msg}");
        assert!(msg.contains("Await the task's JoinHandle"), "{msg}");
    }

    #[test]
    fn lost_waker_names_the_run_and_says_what_to_fix() {
        let at = Location::caller();
        let msg = Error::LostWaker {
            task: "main".into(),
            spawned_at: at,
        }
        .to_string();
        assert!(msg.contains(&at.to_string()), "{msg}");
        assert!(msg.contains("lost waker"), "{msg}");
        assert!(msg.contains("cx.waker()"), "{msg}");
    }

    #[test]
    fn runtime_error_keeps_its_source() {
        let err = Error::from(io::Error::other("no epoll"));
        assert!(err.to_string().contains("no epoll"));
        assert_eq!(err.source().unwrap().to_string(), "no epoll");
        assert!(Error::Closed.source().is_none());
    }
}
