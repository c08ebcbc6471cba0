//! Listening for cancellation: [`cancelled`] and [`is_cancelled`],
//! asyncio's `except CancelledError:` for tasks that are dropped to cancel.
#![forbid(unsafe_code)]

use std::sync::Arc;

use crate::cancel::CancelState;
use crate::context::{self, TaskKind};
use crate::current;

/// Completes once cancellation of the current runner task has been
/// requested: asyncio's `CancelledError`, as an event the task awaits.
///
/// Calling it (or [`is_cancelled`]) makes the task *listen*: a request then
/// wakes it and leaves it running for the runner's
/// [`cancel_grace`](crate::Builder::cancel_grace) (default 30 s), so that
/// it can still `await` its cleanup (close a connection, flush a buffer,
/// say goodbye to a peer); if it has not ended by then, it is dropped. A
/// task that never listens is dropped at once by a request, as Tokio's
/// `abort` drops it, and its cleanup is its `Drop`. A task that ends within
/// its grace ends normally: its [`JoinHandle`](crate::JoinHandle) gives its
/// output.
///
/// A request is final, where asyncio lets a task swallow its
/// `CancelledError` (or `uncancel()`) and carry on: once asked, a task is on
/// its way out. Its cleanup may do what it likes, await, spawn, join a
/// [`TaskGroup`](crate::TaskGroup) (whose children it then asks at once),
/// but the task is dropped when its grace ends. Further requests change
/// nothing; [`JoinHandle::abort`](crate::JoinHandle::abort) drops it at
/// once.
///
/// Requests come from [`JoinHandle::cancel`](crate::JoinHandle::cancel), a
/// [`TaskGroup`](crate::TaskGroup) whose child failed or that was cancelled,
/// [`Runner::close`](crate::Runner::close) (and so `runner::run` and the
/// attributes) for every task still alive, and the first Ctrl-C for the
/// main task.
///
/// Outside a runner task (the main task of a run, or a task spawned with
/// [`spawn`](crate::spawn), [`spawn_local`](crate::spawn_local) or
/// [`spawn_blocking`](crate::spawn_blocking)) it never completes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     let worker = runner::spawn(async {
///         tokio::select! {
///             _ = runner::task::cancelled() => {
///                 // Cleanup may await.
///                 tokio::time::sleep(Duration::from_millis(1)).await;
///                 "cleaned up"
///             }
///             _ = tokio::time::sleep(Duration::from_secs(60)) => "finished",
///         }
///     });
///     tokio::task::yield_now().await; // the worker starts listening
///     worker.cancel();
///     assert_eq!(worker.await.unwrap(), "cleaned up");
/// })
/// # }
/// ```
pub async fn cancelled() {
    match listen() {
        Some(state) => state.token().cancelled().await,
        None => std::future::pending().await,
    }
}

/// Whether cancellation of the current runner task has been requested; the
/// task listens for cancellation from its first call on (see
/// [`cancelled`]). Always `false` outside a runner task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     let worker = runner::spawn(async {
///         let mut rounds = 0;
///         while !runner::task::is_cancelled() {
///             tokio::time::sleep(Duration::from_millis(1)).await;
///             rounds += 1;
///         }
///         rounds
///     });
///     tokio::time::sleep(Duration::from_millis(5)).await;
///     worker.cancel();
///     assert!(worker.await.unwrap() > 0);
/// })
/// # }
/// ```
pub fn is_cancelled() -> bool {
    listen().is_some_and(|state| state.is_requested())
}

/// The cancellation state of the runner task being polled, made now if it
/// had none (it listens from now on); `None` outside runner tasks.
pub(super) fn listen() -> Option<Arc<CancelState>> {
    context::with_task(|task| match task.kind {
        TaskKind::Outside => None,
        TaskKind::Main => current::runner().map(|runner| runner.main_cancel_state()),
        TaskKind::Spawned => {
            let state = task.listener.get_or_insert_with(|| {
                let runner = current::runner();
                let grace = runner
                    .as_ref()
                    .map_or(Default::default(), |r| r.cancel_grace);
                let listeners = runner.map(|r| r.parked.listeners());
                CancelState::new(tokio::task::try_id(), listeners, grace)
            });
            Some(state.clone())
        }
    })
    .flatten()
}
