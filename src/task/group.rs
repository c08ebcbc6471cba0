//! [`TaskGroup`]: structured concurrency, as asyncio's `TaskGroup` and
//! trio's nursery: children that cannot outlive their group, the first
//! failure cancels the rest, and `join` reports every error.
#![forbid(unsafe_code)]

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::FutureExt;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, Id};

use super::{JoinHandle, spawn_inner, spawn_local_inner};
use crate::cancel;
use crate::debug::track::Tracked;
use crate::sync::lock;

/// A group of tasks that are cancelled together and awaited together:
/// asyncio's `asyncio.TaskGroup`.
///
/// Children run as runner tasks (each in a copy of the spawner's context).
/// The first child to return `Err` or to panic makes the group ask every
/// other child to cancel ([`JoinHandle::cancel`]: a child that listens for
/// cancellation may finish its cleanup within the runner's cancel grace,
/// any other is dropped at once). [`join`](Self::join) waits until every
/// child has ended and returns every `Err` in a [`GroupError`], cleanup
/// errors included. A child's panic is retrieved by the group (it is never
/// reported as lost, and never stops a run under `LostPanic::CancelMain`)
/// and resumed from `join` once the other children have ended, as
/// `std::thread::scope` does.
///
/// The task awaiting `join` listens for cancellation: a request to it
/// passes to every child, and `join` keeps waiting for them (within the
/// grace). Dropping the group, or the `join` future, drops every child
/// still alive: children never outlive their group.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # fn main() -> Result<(), runner::Error> {
/// let errors = runner::run(async {
///     let group = runner::TaskGroup::new();
///     group.spawn(async {
///         // Asked to cancel when the other child fails: it cleans up.
///         runner::task::cancelled().await;
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         Err("the listener's cleanup failed")
///     });
///     tokio::task::yield_now().await; // the first child starts listening
///     group.spawn(async { Err("the database is down") });
///     group.join().await.unwrap_err().into_errors()
/// })?;
/// assert_eq!(errors, ["the database is down", "the listener's cleanup failed"]);
/// # Ok(())
/// # }
/// ```
pub struct TaskGroup<E> {
    /// What the group and its children share.
    group: Arc<Group<E>>,
}

/// What a group and its children share.
struct Group<E> {
    /// The children alive, the errors, the first panic.
    state: Mutex<State<E>>,
    /// Notified when the last child alive ends.
    all_ended: Notify,
    /// Numbers the children.
    next: AtomicU64,
}

/// A group's state.
struct State<E> {
    /// The children alive, by number: their handle once spawned.
    alive: HashMap<u64, Option<CancelHandle>>,
    /// Every `Err` a child returned, in the order they ended.
    errors: Vec<E>,
    /// The first panic of a child, resumed by `join`.
    panic: Option<Box<dyn Any + Send>>,
    /// A child failed, or the group was cancelled: every child is asked to
    /// cancel, those spawned later too.
    cancelling: bool,
}

impl<E> TaskGroup<E> {
    /// An empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// let group: runner::TaskGroup<std::io::Error> = runner::TaskGroup::new();
    /// # drop(group);
    /// ```
    pub fn new() -> Self {
        TaskGroup {
            group: Arc::new(Group {
                state: Mutex::new(State {
                    alive: HashMap::new(),
                    errors: Vec::new(),
                    panic: None,
                    cancelling: false,
                }),
                all_ended: Notify::new(),
                next: AtomicU64::new(0),
            }),
        }
    }

    /// Spawns a `Send` child onto the runtime, like
    /// [`runner::spawn`](crate::spawn), in a copy of the current context.
    /// Its `Err`, or its panic, cancels the group.
    ///
    /// The returned handle can cancel the child; its outcome goes to
    /// [`join`](Self::join).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as `tokio::spawn` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let group = runner::TaskGroup::<()>::new();
    ///     for _ in 0..3 {
    ///         group.spawn(async { Ok(()) });
    ///     }
    ///     group.join().await.unwrap();
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> CancelHandle
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let site = Location::caller();
        self.add(|child| spawn_inner(None, site, child), future)
    }

    /// Spawns a child onto the current [`LocalSet`](tokio::task::LocalSet)
    /// (a runner's loop has one), like
    /// [`runner::spawn_local`](crate::spawn_local): the future need not be
    /// `Send`.
    ///
    /// # Panics
    ///
    /// Outside a `LocalSet`, as `tokio::task::spawn_local` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let group = runner::TaskGroup::<String>::new();
    ///     let name = Rc::new("not Send");
    ///     group.spawn_local(async move { Err(name.to_string()) });
    ///     let err = group.join().await.unwrap_err();
    ///     assert_eq!(err.errors(), ["not Send"]);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> CancelHandle
    where
        F: Future<Output = Result<(), E>> + 'static,
        E: 'static,
    {
        let site = Location::caller();
        self.add(|child| spawn_local_inner(None, site, child), future)
    }

    /// Registers a child, spawns it with `spawn`, and keeps its handle.
    fn add<F, S>(&self, spawn: S, future: F) -> CancelHandle
    where
        S: FnOnce(Child<F, E>) -> JoinHandle<()>,
    {
        let number = self.group.next.fetch_add(1, Ordering::Relaxed);
        let refused = {
            let mut state = lock(&self.group.state);
            state.alive.insert(number, None);
            state.cancelling
        };
        let child = Child {
            // asyncio refuses a task to a group that is shutting down: such
            // a child ends at its first poll, its future never polled.
            future: (!refused).then_some(future),
            ended: Ended {
                group: self.group.clone(),
                number,
            },
        };
        let handle = spawn(child).cancel_handle();
        let mut state = lock(&self.group.state);
        // Absent: the child has ended already.
        if let Some(slot) = state.alive.get_mut(&number) {
            *slot = Some(handle.clone());
        }
        handle
    }

    /// Asks every child to cancel (asyncio 3.15's `TaskGroup.cancel()`);
    /// [`join`](Self::join) still waits for them. Children spawned later
    /// are cancelled too.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let group = runner::TaskGroup::<()>::new();
    ///     group.spawn(std::future::pending());
    ///     group.cancel();
    ///     assert!(group.join().await.is_ok());
    /// })
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.group.cancel();
    }

    /// Waits for every child to end. `Ok` if none failed; otherwise every
    /// `Err` a child returned, in the order they ended. The first failure
    /// cancels the other children; a request to cancel the task awaiting
    /// `join` cancels them too, and `join` keeps waiting for them (within
    /// the runner's cancel grace, since that task then listens).
    ///
    /// # Errors
    ///
    /// A [`GroupError`] with every `Err` the children returned.
    ///
    /// # Panics
    ///
    /// If a child panicked: its panic is resumed here, once every other
    /// child has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let group = runner::TaskGroup::new();
    ///     group.spawn(async { Err(1) });
    ///     // Cancelled by the first failure before it ever runs, as asyncio
    ///     // cancels a task that has not started.
    ///     group.spawn(async { Err(2) });
    ///     assert_eq!(group.join().await.unwrap_err().errors(), [1]);
    /// })
    /// # }
    /// ```
    pub async fn join(self) -> Result<(), GroupError<E>> {
        // The task awaiting `join` listens: a request passes to the children.
        let listener = super::cancel::listen();
        let mut passed_on = false;
        loop {
            let ended = self.group.all_ended.notified();
            let mut ended = std::pin::pin!(ended);
            ended.as_mut().enable();
            if lock(&self.group.state).alive.is_empty() {
                break;
            }
            match &listener {
                Some(me) if !passed_on => {
                    tokio::select! {
                        () = ended => {}
                        () = me.token().cancelled() => {
                            passed_on = true;
                            self.group.cancel();
                        }
                    }
                }
                _ => ended.await,
            }
        }
        let mut state = lock(&self.group.state);
        if let Some(panic) = state.panic.take() {
            drop(state);
            resume_unwind(panic);
        }
        let errors = std::mem::take(&mut state.errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(GroupError { errors })
        }
    }
}

impl<E> Group<E> {
    /// Asks every child alive to cancel, and those spawned later.
    fn cancel(&self) {
        for handle in self.alive(true) {
            handle.cancel();
        }
    }

    /// The handles of the children alive (taken under the lock, used
    /// outside it); `cancelling`: children spawned from now on are refused.
    fn alive(&self, cancelling: bool) -> Vec<CancelHandle> {
        let mut state = lock(&self.state);
        state.cancelling |= cancelling;
        state.alive.values().flatten().cloned().collect()
    }

    /// A child failed: the first failure cancels the others.
    fn failed(&self, failure: Failure<E>) {
        let first = {
            let mut state = lock(&self.state);
            match failure {
                Failure::Err(err) => state.errors.push(err),
                Failure::Panic(panic) => {
                    if state.panic.is_none() {
                        state.panic = Some(panic);
                    }
                }
            }
            !state.cancelling
        };
        if first {
            self.cancel();
        }
    }
}

/// How a child failed.
enum Failure<E> {
    Err(E),
    Panic(Box<dyn Any + Send>),
}

impl<E> Default for TaskGroup<E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<E> Drop for TaskGroup<E> {
    /// Drops every child still alive: children never outlive their group.
    fn drop(&mut self) {
        for handle in self.group.alive(false) {
            handle.abort();
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.group.state);
        f.debug_struct("TaskGroup")
            .field("alive", &state.alive.len())
            .field("errors", &state.errors.len())
            .field("cancelling", &state.cancelling)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// A child of a group: its outcome goes to the group. `None`: refused
    /// (spawned into a group that was cancelling).
    struct Child<F, E> {
        #[pin]
        future: Option<F>,
        ended: Ended<E>,
    }
}

/// Tells the group that a child ended when dropped (completed, failed,
/// cancelled or dropped).
struct Ended<E> {
    group: Arc<Group<E>>,
    number: u64,
}

impl<E> Drop for Ended<E> {
    fn drop(&mut self) {
        let removed = {
            let mut state = lock(&self.group.state);
            let removed = state.alive.remove(&self.number);
            if state.alive.is_empty() {
                self.group.all_ended.notify_waiters();
            }
            removed
        };
        drop(removed);
    }
}

impl<F, E> Future for Child<F, E>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(());
        };
        // The panic is the group's: retrieved here, resumed by `join`.
        let polled = AssertUnwindSafe(future).catch_unwind().poll_unpin(cx);
        let failure = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(Ok(()))) => return Poll::Ready(()),
            Poll::Ready(Ok(Err(err))) => Failure::Err(err),
            Poll::Ready(Err(panic)) => Failure::Panic(panic),
        };
        this.ended.group.failed(failure);
        Poll::Ready(())
    }
}

/// A handle that can cancel a runner task without awaiting it: a
/// [`TaskGroup`] child's, or any task's through
/// [`JoinHandle::cancel_handle`].
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     let group = runner::TaskGroup::<()>::new();
///     let child = group.spawn(std::future::pending());
///     child.cancel();
///     group.join().await.unwrap();
///     assert!(child.is_finished());
/// })
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CancelHandle {
    /// Tokio's id of the task.
    id: Id,
    /// Tokio's way to drop it.
    abort: AbortHandle,
    /// Debug mode's record of the task.
    tracked: Option<Arc<Tracked>>,
}

impl CancelHandle {
    pub(super) fn new(id: Id, abort: AbortHandle, tracked: Option<Arc<Tracked>>) -> Self {
        CancelHandle { id, abort, tracked }
    }

    /// The task is on its way out: close does not report it as left
    /// pending even if Tokio has not dropped it yet.
    fn mark_aborted(&self) {
        if let Some(tracked) = &self.tracked {
            tracked.meta.mark_aborted();
        }
    }

    /// Asks the task to cancel, as [`JoinHandle::cancel`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let task = runner::spawn(std::future::pending::<()>());
    ///     task.cancel_handle().cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// })
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.mark_aborted();
        cancel::request(self.id, self.abort.clone());
    }

    /// Drops the task at once, as [`JoinHandle::abort`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let task = runner::spawn(std::future::pending::<()>());
    ///     task.cancel_handle().abort();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// })
    /// # }
    /// ```
    pub fn abort(&self) {
        self.mark_aborted();
        self.abort.abort();
    }

    /// Whether the task has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let task = runner::spawn(async {});
    ///     let handle = task.cancel_handle();
    ///     task.await.unwrap();
    ///     assert!(handle.is_finished());
    /// })
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.abort.is_finished()
    }

    /// Tokio's id of the task.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let task = runner::spawn(async {});
    ///     assert_eq!(task.cancel_handle().id(), task.id());
    /// })
    /// # }
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }
}

/// Every error the children of a [`TaskGroup`] returned, in the order they
/// ended: what [`TaskGroup::join`] returns when any child failed (asyncio's
/// `ExceptionGroup`).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// let err = runner::run(async {
///     let group = runner::TaskGroup::new();
///     group.spawn(async { Err("refused") });
///     group.join().await.unwrap_err()
/// })?;
/// assert_eq!(err.errors(), ["refused"]);
/// assert_eq!(err.to_string(), "1 task of the group failed: refused");
/// # Ok(())
/// # }
/// ```
pub struct GroupError<E> {
    /// The errors, in the order the children ended.
    errors: Vec<E>,
}

impl<E> GroupError<E> {
    /// The errors, in the order the children ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let group = runner::TaskGroup::new();
    ///     group.spawn(async { Err(7) });
    ///     assert_eq!(group.join().await.unwrap_err().errors(), [7]);
    /// })
    /// # }
    /// ```
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// The errors, in the order the children ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let group = runner::TaskGroup::new();
    ///     group.spawn(async { Err(String::from("late")) });
    ///     assert_eq!(group.join().await.unwrap_err().into_errors(), ["late"]);
    /// })
    /// # }
    /// ```
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("errors", &self.errors)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let tasks = if n == 1 { "task" } else { "tasks" };
        write!(f, "{n} {tasks} of the group failed: ")?;
        for (i, err) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{err}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GroupError<E> {
    /// The first error.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.errors
            .first()
            .map(|err| err as &(dyn std::error::Error + 'static))
    }
}
