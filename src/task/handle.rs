//! [`JoinHandle`]: Tokio's handle of a runner task, giving the task's
//! output as Tokio's would.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

use tokio::task::{AbortHandle, Id, JoinError};

use super::CancelHandle;
use super::join_error;
use super::wrapper::Outcome;
use crate::debug::awaits;
use crate::debug::track::Tracked;

/// An owned permission to await a runner task, like
/// [`tokio::task::JoinHandle`].
///
/// It awaits to `Result<T, JoinError>`. Dropping it detaches the task; if the
/// task panics and the panic is never retrieved (by awaiting the handle), the
/// panic is reported through `tracing` at ERROR level under the `runner`
/// target with the spawn site, as asyncio reports "Task exception was never
/// retrieved". The report comes when both have happened: the panic and the
/// handle's drop. A retrieved panic's [`JoinError`] carries the task's own
/// payload ([`JoinError::into_panic`]); its [`JoinError::id`] is not the
/// task's (Tokio offers no way to make one that is): use [`id`](Self::id).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     let handle = runner::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
/// })
/// # }
/// ```
pub struct JoinHandle<T> {
    /// Tokio's handle of the wrapped task.
    inner: tokio::task::JoinHandle<Outcome<T>>,
    /// Debug mode's record of the task (shared with it and the registry).
    tracked: Option<Arc<Tracked>>,
}

impl<T> JoinHandle<T> {
    pub(super) fn new(
        inner: tokio::task::JoinHandle<Outcome<T>>,
        tracked: Option<Arc<Tracked>>,
    ) -> Self {
        JoinHandle { inner, tracked }
    }

    /// Cancels the task: it is dropped at its next await point, and awaiting
    /// this handle then gives a cancelled [`JoinError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let handle = runner::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// })
    /// # }
    /// ```
    pub fn abort(&self) {
        if let Some(tracked) = &self.tracked {
            tracked.meta.mark_aborted();
        }
        self.inner.abort();
    }

    /// Asks the task to cancel: asyncio's `Task.cancel()`.
    ///
    /// A task that listens for cancellation ([`task::cancelled`],
    /// [`task::is_cancelled`]) is woken and may run its cleanup, even
    /// `await` in it, for the runner's
    /// [`cancel_grace`](crate::Builder::cancel_grace); if it ends in time,
    /// awaiting this handle gives its output, else it is dropped then and
    /// awaiting gives a cancelled [`JoinError`]. A task that does not listen
    /// is dropped at once, as by [`abort`](Self::abort). Does nothing to a
    /// task that has finished.
    ///
    /// [`task::cancelled`]: crate::task::cancelled
    /// [`task::is_cancelled`]: crate::task::is_cancelled
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let (tx, rx) = tokio::sync::oneshot::channel();
    ///     let task = runner::spawn(async move {
    ///         runner::task::cancelled().await;
    ///         // Cleanup that awaits.
    ///         tokio::task::yield_now().await;
    ///         tx.send("goodbye").unwrap();
    ///         7
    ///     });
    ///     tokio::task::yield_now().await;
    ///     task.cancel();
    ///     assert_eq!(task.await.unwrap(), 7);
    ///     assert_eq!(rx.await.unwrap(), "goodbye");
    /// })
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.cancel_handle().cancel();
    }

    /// A handle that can ask the task to cancel, or drop it, without
    /// awaiting it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let task = runner::spawn(std::future::pending::<()>());
    ///     let canceller = task.cancel_handle();
    ///     canceller.cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// })
    /// # }
    /// ```
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle::new(
            self.inner.id(),
            self.inner.abort_handle(),
            self.tracked.clone(),
        )
    }

    /// Whether the task has finished (returned, panicked or been cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let handle = runner::spawn(async {});
    ///     tokio::task::yield_now().await;
    ///     assert!(handle.is_finished());
    /// })
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// A handle that can cancel the task without awaiting it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let handle = runner::spawn(std::future::pending::<()>());
    ///     handle.abort_handle().abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// })
    /// # }
    /// ```
    pub fn abort_handle(&self) -> AbortHandle {
        self.inner.abort_handle()
    }

    /// Tokio's id of the task.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let handle = runner::spawn(async { tokio::task::id() });
    ///     let id = handle.id();
    ///     assert_eq!(handle.await.unwrap(), id);
    /// })
    /// # }
    /// ```
    pub fn id(&self) -> Id {
        self.inner.id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        match &self.tracked {
            None => self.poll_output(cx),
            Some(_) => self.poll_tracked(cx),
        }
    }
}

impl<T> JoinHandle<T> {
    /// Polls Tokio's handle and unwraps the runner's outcome.
    fn poll_output(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<T, JoinError>> {
        Poll::Ready(match ready!(Pin::new(&mut self.inner).poll(cx)) {
            Ok(Outcome::Value(value)) => Ok(value),
            // Retrieved: no report.
            Ok(Outcome::Panicked(note)) => Err(join_error::panicked((*note).retrieve())),
            // Dropped by `close`, or at the end of its cancel grace.
            Ok(Outcome::Dropped) => Err(join_error::cancelled()),
            // Cancelled, or a panic while being dropped (reported then).
            Err(err) => Err(err),
        })
    }

    /// Debug mode: the task being polled awaits this one until the output
    /// is ready.
    #[inline(never)]
    fn poll_tracked(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<T, JoinError>> {
        let polled = self.poll_output(cx);
        if let Some(tracked) = &self.tracked {
            awaits::polled(tracked, polled.is_pending());
        }
        polled
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(tracked) = &self.tracked {
            // Its await, if one was going on, is over.
            awaits::ended(tracked);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.inner.id())
            .field("name", &self.tracked.as_ref().and_then(|t| t.meta.name()))
            .field("spawned_at", &self.tracked.as_ref().map(|t| t.meta.site()))
            .finish()
    }
}
