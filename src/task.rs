//! Spawning tasks that inherit the current context, and their handles.
//!
//! Every runner task is wrapped once at spawn: the wrapper enters the task's
//! own copy of the context around each poll, carries the runner the task
//! belongs to (for debug reports and the blocking-work count of `close`),
//! records its spawn site, and notices a panic so that one nobody retrieves
//! is reported rather than lost.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! static JOB: runner::ContextVar<&str> = runner::ContextVar::new("job");
//! runner::run(async {
//!     JOB.set("nightly");
//!     // Named tasks show their name in debug-mode reports.
//!     let task = runner::task::Builder::new().name("report").spawn(async { JOB.get() })?;
//!     assert_eq!(task.await?, Some("nightly"));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })??;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Poll, ready};
use std::time::Duration;

use tokio::task::{AbortHandle, Id, JoinError};

use crate::context::TaskContext;
use crate::debug::{self, Registry};

/// What a runner's tasks know about the runner: shared by the runner and
/// every task it spawned, directly or not.
#[derive(Debug, Default)]
pub(crate) struct LoopShared {
    /// Debug-mode state; `None` when debug mode is off.
    pub(crate) debug: Option<DebugShared>,
    /// Blocking closures started through `runner::spawn_blocking` and not
    /// finished yet; `close` reads it to tell whether its timeout expired.
    pub(crate) blocking: AtomicUsize,
}

/// Debug-mode settings and what debug mode counts.
#[derive(Debug)]
pub(crate) struct DebugShared {
    /// Polls longer than this are reported.
    pub(crate) slow_poll: Duration,
    /// Runner tasks not yet finished, for the report at close.
    pub(crate) registry: Registry,
    /// Task panics reported as never retrieved.
    pub(crate) lost_panics: AtomicUsize,
}

impl DebugShared {
    pub(crate) fn new(slow_poll: Duration) -> Self {
        DebugShared {
            slow_poll,
            registry: Registry::default(),
            lost_panics: AtomicUsize::new(0),
        }
    }
}

thread_local! {
    /// The runner of the task being polled on this thread, or of the loop
    /// this thread is running.
    static RUNNER: RefCell<Option<Arc<LoopShared>>> = const { RefCell::new(None) };
}

/// Makes `runner` current on this thread until the guard drops.
pub(crate) fn enter_runner(runner: &mut Option<Arc<LoopShared>>) -> RunnerEntered<'_> {
    RUNNER.with_borrow_mut(|cur| mem::swap(cur, runner));
    RunnerEntered(runner)
}

/// Swaps the previous runner back when dropped.
pub(crate) struct RunnerEntered<'a>(&'a mut Option<Arc<LoopShared>>);

impl Drop for RunnerEntered<'_> {
    fn drop(&mut self) {
        RUNNER.with_borrow_mut(|cur| mem::swap(cur, self.0));
    }
}

/// Makes `runner` current for one poll of a task, unless it already is (a
/// task of the runner whose loop this thread is running): then there is
/// nothing to swap.
fn enter_task_runner(runner: &mut Option<Arc<LoopShared>>) -> Option<RunnerEntered<'_>> {
    let current = RUNNER.with_borrow(|cur| match (cur, &*runner) {
        (Some(cur), Some(ours)) => Arc::ptr_eq(cur, ours),
        (None, None) => true,
        _ => false,
    });
    (!current).then(|| enter_runner(runner))
}

fn current_runner() -> Option<Arc<LoopShared>> {
    RUNNER.try_with(|r| r.borrow().clone()).ok().flatten()
}

/// An identity of the runner of the task being polled (0 outside runner
/// tasks and loops): what the signal module compares with its owner.
pub(crate) fn current_runner_id() -> usize {
    RUNNER
        .try_with(|r| r.borrow().as_ref().map_or(0, runner_id))
        .unwrap_or(0)
}

/// A runner's identity: the address of its shared state, unique while the
/// runner lives.
pub(crate) fn runner_id(runner: &Arc<LoopShared>) -> usize {
    Arc::as_ptr(runner) as usize
}

/// A task's identity, shared by its wrapper and its [`JoinHandle`].
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// The name given through [`Builder::name`], if any.
    pub(crate) name: Option<Box<str>>,
    /// Where the task was spawned.
    pub(crate) location: &'static Location<'static>,
    /// `PANICKED`, `HANDLE_GONE`, `RETRIEVED` and `ABORTED` bits.
    state: AtomicU8,
    /// The panic message, once the task panicked.
    panic: OnceLock<String>,
    /// The runner, in debug mode only, to count lost panics.
    runner: Weak<LoopShared>,
}

const PANICKED: u8 = 1;
const HANDLE_GONE: u8 = 2;
const RETRIEVED: u8 = 4;
/// `JoinHandle::abort` was called: the task is on its way out, so close does
/// not report it as left pending even if tokio has not dropped it yet.
const ABORTED: u8 = 8;

impl TaskMeta {
    pub(crate) fn new(name: Option<&str>, location: &'static Location<'static>) -> Self {
        TaskMeta {
            name: name.map(Into::into),
            location,
            state: AtomicU8::new(0),
            panic: OnceLock::new(),
            runner: Weak::new(),
        }
    }

    /// The task's name, or `"unnamed"`.
    pub(crate) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("unnamed")
    }

    /// Whether the task's `JoinHandle::abort` was called.
    pub(crate) fn abort_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) & ABORTED != 0
    }

    /// The task panicked: report it now if its handle is already gone.
    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.record_panic(debug::panic_message(payload).to_owned());
    }

    /// Dropping the task's future (cancelling it) panicked.
    fn panicked_on_drop(&self, payload: &(dyn std::any::Any + Send)) {
        let message = debug::panic_message(payload);
        self.record_panic(format!("while being dropped (cancelled): {message}"));
    }

    fn record_panic(&self, message: String) {
        let _ = self.panic.set(message);
        if self.state.fetch_or(PANICKED, Ordering::AcqRel) & HANDLE_GONE != 0 {
            self.report_lost_panic();
        }
    }

    /// The handle is gone: report the panic now if the task already panicked
    /// and nobody read it.
    fn handle_gone(&self) {
        let prev = self.state.fetch_or(HANDLE_GONE, Ordering::AcqRel);
        if prev & PANICKED != 0 && prev & RETRIEVED == 0 {
            self.report_lost_panic();
        }
    }

    fn report_lost_panic(&self) {
        let message = self.panic.get().map_or("<unknown>", String::as_str);
        debug::lost_panic(self, message);
        if let Some(debug) = self
            .runner
            .upgrade()
            .as_ref()
            .and_then(|r| r.debug.as_ref())
        {
            debug.lost_panics.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Takes the per-task state every spawn needs; shared by all spawn paths.
struct Spawned {
    meta: Arc<TaskMeta>,
    runner: Option<Arc<LoopShared>>,
    registration: Option<debug::Registration>,
}

impl Spawned {
    fn new(name: Option<&str>, location: &'static Location<'static>) -> Self {
        let mut meta = TaskMeta::new(name, location);
        let runner = current_runner();
        let debug_runner = runner.as_ref().filter(|r| r.debug.is_some());
        if let Some(runner) = debug_runner {
            meta.runner = Arc::downgrade(runner);
        }
        let meta = Arc::new(meta);
        let registration = debug_runner
            .and_then(|r| r.debug.as_ref())
            .map(|d| d.registry.register(&meta));
        Spawned {
            meta,
            runner,
            registration,
        }
    }

    /// The task to hand to Tokio, and the identity its handle shares.
    fn wrap<F>(self, future: F) -> (Task<F>, Arc<TaskMeta>) {
        let meta = self.meta.clone();
        let task = Task {
            future: Some(future),
            ctx: TaskContext::capture(),
            runner: self.runner,
            meta: self.meta,
            _registration: self.registration,
        };
        (task, meta)
    }
}

pin_project_lite::pin_project! {
    /// A runner task: the user's future plus what the task carries.
    struct Task<F> {
        // `None` once complete or dropped: see the `PinnedDrop`.
        #[pin]
        future: Option<F>,
        ctx: TaskContext,
        // Also where debug mode's settings are read from.
        runner: Option<Arc<LoopShared>>,
        meta: Arc<TaskMeta>,
        _registration: Option<debug::Registration>,
    }

    // Cancelling a task drops its future: that runs in the task's context
    // (cleanup sees the task's variables, as asyncio runs a cancelled task's
    // handlers in its context), and a panic there is recorded like one in a
    // poll, so a task that fails while `close` cancels it is reported rather
    // than lost (asyncio: "unhandled exception during asyncio.run()
    // shutdown"). Tokio catches the panic itself into the `JoinHandle`.
    impl<F> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_none() {
                return;
            }
            let _ctx = this.ctx.enter();
            let _runner = enter_task_runner(this.runner);
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
                this.meta.panicked_on_drop(&*payload);
                resume_unwind(payload)
            }
        }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let slow_poll = this
            .runner
            .as_ref()
            .and_then(|r| r.debug.as_ref())
            .map(|d| d.slow_poll);
        let _ctx = this.ctx.enter();
        let _runner = enter_task_runner(this.runner);
        let meta = &**this.meta;
        let mut future = this.future;
        match catch_unwind(AssertUnwindSafe(|| {
            let poll = debug::timed_poll(slow_poll, meta, || {
                let running = future.as_mut().as_pin_mut();
                running
                    .expect("tokio does not poll a task after it completed")
                    .poll(cx)
            });
            if poll.is_ready() {
                // Dropped here, in the task's context, so the wrapper's own
                // drop has nothing left to do for a task that completed.
                future.set(None);
            }
            poll
        })) {
            Ok(poll) => poll,
            Err(payload) => {
                meta.panicked(&*payload);
                resume_unwind(payload)
            }
        }
    }
}

/// An owned permission to await a runner task, like
/// [`tokio::task::JoinHandle`].
///
/// It awaits to `Result<T, JoinError>`. Dropping it detaches the task; if the
/// task panics and the panic is never retrieved (by awaiting the handle), the
/// panic is reported through `tracing` at ERROR level under the `runner`
/// target with the spawn site, as asyncio reports "Task exception was never
/// retrieved". The report comes when both have happened: the panic and the
/// handle's drop.
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
    inner: tokio::task::JoinHandle<T>,
    /// Shared with the task, for the lost-panic report.
    meta: Arc<TaskMeta>,
    /// Whether awaiting it gave the task's outcome, so a panic, if any, was
    /// retrieved and dropping the handle has nothing to report.
    done: bool,
}

impl<T> JoinHandle<T> {
    fn new(inner: tokio::task::JoinHandle<T>, meta: Arc<TaskMeta>) -> Self {
        JoinHandle {
            inner,
            meta,
            done: false,
        }
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
        self.meta.state.fetch_or(ABORTED, Ordering::AcqRel);
        self.inner.abort();
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
        let result = ready!(Pin::new(&mut self.inner).poll(cx));
        if matches!(&result, Err(err) if err.is_panic()) {
            self.meta.state.fetch_or(RETRIEVED, Ordering::AcqRel);
        }
        self.done = true;
        Poll::Ready(result)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // A task that completed had its panic flagged before its handle could
        // see the outcome, and the outcome was read: nothing can be lost.
        if !self.done {
            self.meta.handle_gone();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.inner.id())
            .field("name", &self.meta.name)
            .field("spawned_at", &self.meta.location)
            .finish()
    }
}

/// Spawns a `Send` future onto the current runtime, in a copy of the current
/// context: [`tokio::spawn`] plus asyncio's context inheritance.
///
/// Raw `tokio::spawn` does not copy the context: its task sees whatever
/// context is current on the thread that polls it. Use this function (or
/// [`spawn_local`]) for tasks that should see the spawner's variables.
///
/// # Panics
///
/// Panics if called outside a Tokio runtime, as `tokio::spawn` does.
///
/// # Examples
///
/// ```
/// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     USER.set("ada");
///     let seen = runner::spawn(async { USER.get() }).await.unwrap();
///     assert_eq!(seen, Some("ada"));
/// })
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_inner(None, Location::caller(), future)
}

#[track_caller]
fn spawn_inner<F>(
    name: Option<&str>,
    location: &'static Location<'static>,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (task, meta) = Spawned::new(name, location).wrap(future);
    JoinHandle::new(tokio::spawn(task), meta)
}

/// Spawns a future onto the current [`LocalSet`](tokio::task::LocalSet) (a
/// runner's loop has one), in a copy of the current context: asyncio's
/// `create_task`.
///
/// # Panics
///
/// Panics if called outside a `LocalSet`, as `tokio::task::spawn_local`
/// does.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     let shared = Rc::new(5); // not Send: fine on the loop's own thread
///     let task = runner::spawn_local(async move { *shared + 1 });
///     assert_eq!(task.await.unwrap(), 6);
/// })
/// # }
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_inner(None, Location::caller(), future)
}

#[track_caller]
fn spawn_local_inner<F>(
    name: Option<&str>,
    location: &'static Location<'static>,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (task, meta) = Spawned::new(name, location).wrap(future);
    JoinHandle::new(tokio::task::spawn_local(task), meta)
}

/// Runs a blocking closure on the runtime's blocking pool, in a copy of the
/// current context: asyncio's `to_thread`.
///
/// Changes the closure makes to context variables stay in its copy. Work
/// started here is counted, so that [`Runner::close`](crate::Runner::close)
/// can warn truthfully when its `shutdown_timeout` expires with work still
/// running.
///
/// # Panics
///
/// Panics if called outside a Tokio runtime, as
/// `tokio::task::spawn_blocking` does.
///
/// # Examples
///
/// ```
/// static REQUEST: runner::ContextVar<u32> = runner::ContextVar::new("request");
///
/// # fn main() -> Result<(), runner::Error> {
/// runner::run(async {
///     REQUEST.set(12);
///     let seen = runner::spawn_blocking(|| REQUEST.get()).await.unwrap();
///     assert_eq!(seen, Some(12));
/// })
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_blocking_inner(None, Location::caller(), f)
}

#[track_caller]
fn spawn_blocking_inner<F, R>(
    name: Option<&str>,
    location: &'static Location<'static>,
    f: F,
) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let meta = Arc::new(TaskMeta::new(name, location));
    let ctx = TaskContext::capture();
    let running = current_runner().map(BlockingWork::start);
    let task_meta = meta.clone();
    // The closure runs on a pool thread; if its handle is already gone when
    // it panics, the report is made there. Make it to the spawner's
    // subscriber, where the run's other reports go (SPEC 5).
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    let inner = tokio::task::spawn_blocking(move || {
        let _running = running;
        ctx.run(|| match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => value,
            Err(payload) => {
                tracing::dispatcher::with_default(&dispatch, || task_meta.panicked(&*payload));
                resume_unwind(payload)
            }
        })
    });
    JoinHandle::new(inner, meta)
}

/// One unit of the runner's count of running blocking work; counts down
/// when dropped, whether the closure ran, panicked or never started.
struct BlockingWork(Arc<LoopShared>);

impl BlockingWork {
    fn start(runner: Arc<LoopShared>) -> Self {
        runner.blocking.fetch_add(1, Ordering::AcqRel);
        BlockingWork(runner)
    }
}

impl Drop for BlockingWork {
    fn drop(&mut self) {
        self.0.blocking.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Configures a task before spawning it, shaped like Tokio's (unstable)
/// `tokio::task::Builder`: today it gives the task a name, which debug-mode
/// reports show.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// runner::run(async {
///     let handle = runner::task::Builder::new().name("fetch").spawn(async { 1 })?;
///     assert_eq!(handle.await?, 1);
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })??;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Builder<'a> {
    /// The task's name, if given.
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder with no name set.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = runner::task::Builder::new();
    /// # let _ = builder;
    /// ```
    pub fn new() -> Self {
        Builder { name: None }
    }

    /// Names the task (default: unnamed).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = runner::task::Builder::new().name("worker");
    /// # let _ = builder;
    /// ```
    pub fn name(self, name: &'a str) -> Self {
        Builder { name: Some(name) }
    }

    /// Spawns a `Send` task like [`spawn`].
    ///
    /// # Errors
    ///
    /// None today; the `Result` matches Tokio's builder so code can move
    /// between them.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let h = runner::task::Builder::new().name("a").spawn(async { 1 }).unwrap();
    ///     assert_eq!(h.await.unwrap(), 1);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(spawn_inner(self.name, Location::caller(), future))
    }

    /// Spawns a task onto the current `LocalSet` like
    /// [`spawn_local`].
    ///
    /// # Errors
    ///
    /// None today; see [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Panics outside a `LocalSet`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let h = runner::task::Builder::new().name("b").spawn_local(async { 2 }).unwrap();
    ///     assert_eq!(h.await.unwrap(), 2);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Ok(spawn_local_inner(self.name, Location::caller(), future))
    }

    /// Runs a blocking closure like [`spawn_blocking`].
    ///
    /// # Errors
    ///
    /// None today; see [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::run(async {
    ///     let h = runner::task::Builder::new().name("c").spawn_blocking(|| 3).unwrap();
    ///     assert_eq!(h.await.unwrap(), 3);
    /// })
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Ok(spawn_blocking_inner(self.name, Location::caller(), f))
    }
}

#[cfg(test)]
mod tests {
    use crate::__private::lost_panics;
    use crate::Runner;

    fn quiet_panics() {
        std::panic::set_hook(Box::new(|_| {}));
    }

    fn runner() -> Runner {
        Runner::builder().debug(true).handle_sigint(false).build()
    }

    #[test]
    fn a_panic_is_lost_whichever_comes_first_the_drop_or_the_panic() {
        quiet_panics();
        let mut runner = runner();
        runner
            .run(async {
                // Handle dropped first, panic later.
                drop(crate::spawn_local(async {
                    tokio::task::yield_now().await;
                    panic!("after the drop");
                }));
                // Panic first, handle dropped later, unread.
                let handle = crate::spawn(async { panic!("before the drop") });
                while !handle.is_finished() {
                    tokio::task::yield_now().await;
                }
                drop(handle);
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
            })
            .unwrap();
        assert_eq!(lost_panics(&runner), 2);
    }

    #[test]
    fn an_awaited_panic_or_outcome_is_not_lost() {
        quiet_panics();
        let mut runner = runner();
        runner
            .run(async {
                let err = crate::spawn_local(async { panic!("read") })
                    .await
                    .unwrap_err();
                assert!(err.is_panic());
                assert_eq!(crate::spawn(async { 1 }).await.unwrap(), 1);
            })
            .unwrap();
        assert_eq!(lost_panics(&runner), 0);
    }
}
