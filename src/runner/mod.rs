//! The loop's life: [`run`] and [`Runner`].
//!
//! A runner is created (nothing built), initialised by its first `run` or
//! `handle` (event loop and context built), and closed (tasks cancelled,
//! blocking pool shut down, runtime dropped), as asyncio's `Runner` in
//! `Lib/asyncio/runners.py`. A run is five steps, each a small function
//! below: take the thread ([`LoopGuard`]), build on first use
//! ([`Runner::lazy_init`]), wrap the main task in its context
//! ([`MainTask`]), hand Ctrl-C to it ([`interruptible`]), drive the loop
//! ([`EventLoop::block_on`]).
#![forbid(unsafe_code)]

mod builder;

pub use builder::{Builder, LostPanic};

use std::fmt;
use std::future::Future;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::mem;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use futures::future::Either;
use tokio::runtime::Handle;

use crate::context::{Context, TaskContext};
use crate::current::{self, LoopGuard};
use crate::debug::stop::Stoppable;
use crate::event_loop::EventLoop;
use crate::shared::DumpSource;
use crate::shared::{self, LoopShared};
use crate::signal::{self, Interrupts, LastWords, QuitDump, SignalConfig};
use crate::task::MainTask;
use crate::{Error, debug};
use builder::Settings;

/// Runs `future` as the main task of a fresh loop, closes the loop, and
/// returns the future's output: asyncio's `asyncio.run(main())`.
///
/// The loop is a Tokio current-thread runtime plus a
/// [`LocalSet`](tokio::task::LocalSet), so the future need not be `Send` or
/// `'static`. When it returns, tasks still alive are cancelled (dropped) and
/// the blocking pool is shut down, waiting up to 300 s for running blocking
/// work. Same as `Runner::new()`, [`Runner::run`], [`Runner::close`].
///
/// # Errors
///
/// [`Error::NestedRun`] if this thread already runs a loop (use `.await`),
/// [`Error::Interrupted`] if Ctrl-C cancelled the main task,
/// [`Error::Runtime`] if the runtime could not be built.
///
/// # Panics
///
/// A panic of the main future propagates to the caller, after the loop is
/// closed.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// let answer = runner::run(async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///     42
/// })?;
/// assert_eq!(answer, 42);
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> Result<F::Output, Error> {
    let mut runner = Runner::new();
    let result = runner.run_at(future, None, Location::caller());
    runner.close();
    result
}

/// A reusable event loop: one runtime, one [`LocalSet`](tokio::task::LocalSet) and one [`Context`]
/// kept across many [`run`](Self::run)s, as asyncio's `asyncio.Runner`.
///
/// Nothing is built until the first `run` (or [`handle`](Self::handle)).
/// Tasks spawned in one run stay alive and continue in the next; values set
/// in the runner's context in one run are seen by the next.
/// [`close`](Self::close) (or dropping the runner) cancels what is left. A
/// runner is `!Send`: it belongs to the thread that drives it.
///
/// A runner kept in a `thread_local!` is closed when its thread exits. On
/// Unix, when it was built in the thread-local's initializer, that close is
/// a full one; otherwise, and on Windows (where waiting for the blocking
/// pool at thread exit would deadlock), the thread's other thread-locals
/// are already gone, so the runner warns and leaves its loop behind,
/// undropped. Closing it before the thread ends always closes it in full.
///
/// # Examples
///
/// ```
/// use runner::{ContextVar, Runner};
///
/// static COUNT: ContextVar<u32> = ContextVar::with_default("count", 0);
///
/// # fn main() -> Result<(), runner::Error> {
/// let mut runner = Runner::new();
/// runner.run(async { COUNT.set(1) })?;
/// let seen = runner.run(async { COUNT.get() })?;
/// assert_eq!(seen, Some(1));
/// runner.close();
/// # Ok(())
/// # }
/// ```
pub struct Runner {
    /// Settings from the builder.
    settings: Settings,
    /// Created, initialised or closed.
    state: State,
    /// What the runner's tasks share; made at build, so that what it counts
    /// outlives the loop.
    shared: Arc<LoopShared>,
    /// Where the runner was created: what a warning names when it is closed
    /// by its `Drop`, which has no caller location.
    created_at: &'static Location<'static>,
    /// A runner belongs to its thread.
    _not_send: PhantomData<*const ()>,
}

/// The runner's life: asyncio's three states.
enum State {
    /// Nothing built yet.
    Created,
    /// The loop exists.
    Initialized(Loop),
    /// Closed for good: by the `close` call at this location, or (`None`)
    /// because the runtime factory failed or panicked.
    Closed(Option<&'static Location<'static>>),
}

/// What a runner builds on first use.
struct Loop {
    /// The runtime and its `LocalSet`.
    event_loop: EventLoop,
    /// The runner's context: every `run` runs in it. No handle to it exists
    /// (`run_in` takes another), so entering it takes no lock.
    context: TaskContext,
    /// Debug mode: SIGQUIT prints the runner's dump while this is held
    /// (taken by the first debug run that handles signals, given back at
    /// close).
    quit: Option<QuitDump>,
}

impl Runner {
    /// A runner with the default settings (see [`Builder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::new();
    /// assert_eq!(runner.run(async { 1 }).unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A builder to configure a runner.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let runner = runner::Runner::builder()
    ///     .shutdown_timeout(Duration::from_secs(5))
    ///     .build();
    /// # drop(runner);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runner with these settings; debug mode on when `slow_poll` is set.
    #[track_caller]
    pub(crate) fn with_settings(settings: Settings, slow_poll: Option<Duration>) -> Self {
        current::runner_built_here();
        Runner {
            created_at: Location::caller(),
            state: State::Created,
            shared: Arc::new(
                LoopShared::new(
                    slow_poll,
                    settings.lost_panic == LostPanic::CancelMain,
                    settings.cancel_grace,
                )
                .inherit_span(settings.inherit_span),
            ),
            settings,
            _not_send: PhantomData,
        }
    }

    /// Runs `future` as the main task in the runner's context and returns
    /// its output: asyncio's `Runner.run(coro)`.
    ///
    /// Every call uses the same loop and the same context. The future need
    /// not be `Send` or `'static`: it may borrow from the caller.
    ///
    /// # Errors
    ///
    /// [`Error::NestedRun`] if this thread already runs a loop;
    /// [`Error::Closed`] after [`close`](Self::close) (the future is not
    /// polled); [`Error::Runtime`] if building the runtime failed;
    /// [`Error::Interrupted`] if Ctrl-C cancelled the main task.
    ///
    /// # Panics
    ///
    /// A panic of the main future propagates to the caller; the runner stays
    /// usable.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::new();
    /// let mut log = Vec::new();
    /// runner.run(async { log.push("borrowed") }).unwrap();
    /// assert_eq!(log, ["borrowed"]);
    /// ```
    #[track_caller]
    pub fn run<F: Future>(&mut self, future: F) -> Result<F::Output, Error> {
        self.run_at(future, None, Location::caller())
    }

    /// Runs `future` as the main task in `context` itself (not a copy):
    /// asyncio's `Runner.run(coro, context=ctx)`.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run); also if `context` is already entered.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let ctx = runner::Context::new();
    /// let mut runner = runner::Runner::new();
    /// runner.run_in(async { V.set(1) }, &ctx).unwrap();
    /// assert_eq!(ctx.get(&V), Some(1));
    /// assert_eq!(runner.run(async { V.get() }).unwrap(), None);
    /// ```
    #[track_caller]
    pub fn run_in<F: Future>(&mut self, future: F, context: &Context) -> Result<F::Output, Error> {
        self.run_at(future, Some(context), Location::caller())
    }

    /// [`run`](Self::run) or [`run_in`](Self::run_in) called at `at`.
    pub(crate) fn run_at<F: Future>(
        &mut self,
        future: F,
        context: Option<&Context>,
        at: &'static Location<'static>,
    ) -> Result<F::Output, Error> {
        let _guard = self.take_thread(at)?;
        let (signals, shared) = (self.settings.signals, &self.shared);
        let lp = match Self::lazy_init(&mut self.state, &mut self.settings) {
            Ok(lp) => lp,
            Err(err) => {
                explain_refusal(shared, &err, &self.state, at);
                return Err(err);
            }
        };
        if let Some(debug) = &shared.debug {
            // Reports made on other threads go where this thread's go; the
            // watchdog looks at the runner's polls.
            debug.registry.begin_run();
            if signals.sigint || signals.sigterm {
                lp.quit
                    .get_or_insert_with(|| signal::dump_on_quit(quit_words(shared, at)));
            }
        }
        let own = context.is_none().then_some(&mut lp.context);
        let main = MainTask::new(future, own, at, shared);
        let main = match context {
            Some(context) => Either::Left(context.scope_ref(main)),
            None => Either::Right(main),
        };
        let lost = &shared.lost_panics;
        let main = Stoppable::new(main, lost.cancel_main.then_some(&lost.stop));
        let handles_signals = signals.sigint || signals.sigterm;
        let last_words =
            (shared.debug.is_some() && handles_signals).then(|| last_words(shared, at));
        // Pinned here, so that the loop moves a pointer, not the future; it
        // is still dropped inside the loop (see `interruptible`).
        let main = pin!(Some(main));
        let on_press = || main_task_pressed(shared, signals.grace);
        let owner = shared::id(shared);
        let run = pin!(interruptible(main, signals, owner, last_words, on_press));
        let result = lp.event_loop.block_on(run);
        // The next run's main task starts without listening.
        shared.forget_main_cancel_state();
        result.and_then(|stopped| stopped)
    }

    /// One loop per thread: marks this thread as driving the runner's loop,
    /// or refuses (explained in debug mode).
    fn take_thread(&self, at: &'static Location<'static>) -> Result<LoopGuard, Error> {
        LoopGuard::enter(at, &self.shared).inspect_err(|_| {
            if self.is_debug() {
                explain_nested(at);
            }
        })
    }

    /// Builds the loop on first use: asyncio's `_lazy_init`. A factory that
    /// fails or panics leaves the runner closed: it is spent, and the runner
    /// never falls back to a runtime it was not given.
    fn lazy_init<'a>(state: &'a mut State, settings: &mut Settings) -> Result<&'a mut Loop, Error> {
        if let State::Created = state {
            // Closed until built, so that a panicking factory leaves it so.
            *state = State::Closed(None);
            let event_loop = EventLoop::build(settings.factory.take())?;
            current::loop_built_here();
            let mut context = TaskContext::capture();
            context.mark_main();
            *state = State::Initialized(Loop {
                event_loop,
                context,
                quit: None,
            });
        }
        match state {
            State::Initialized(lp) => Ok(lp),
            State::Closed(_) => Err(Error::Closed),
            State::Created => unreachable!("initialised above"),
        }
    }

    /// The runtime's handle, building the loop if needed: asyncio's
    /// `Runner.get_loop()`.
    ///
    /// Use it to spawn onto the runner's runtime from elsewhere, or to
    /// `enter` it.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close); [`Error::Runtime`] if
    /// building the runtime failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::new();
    /// let handle = runner.handle().unwrap();
    /// let task = handle.spawn(async { 7 });
    /// assert_eq!(runner.run(task).unwrap().unwrap(), 7);
    /// ```
    pub fn handle(&mut self) -> Result<Handle, Error> {
        let lp = Self::lazy_init(&mut self.state, &mut self.settings)?;
        Ok(lp.event_loop.handle().clone())
    }

    /// The runner's task list, for dumps taken from other threads.
    pub(crate) fn dump_source(&self) -> DumpSource {
        DumpSource::new(self.shared.clone())
    }

    /// How many task panics nobody retrieved were reported so far.
    pub(crate) fn lost_panics(&self) -> usize {
        self.shared.lost_panics.count()
    }

    /// Blocking work started through `runner::spawn_blocking` and still
    /// running.
    pub(crate) fn blocking_running(&self) -> usize {
        self.shared.blocking_running()
    }

    /// The tasks `close` reported still pending (debug mode only), as
    /// "`name` spawned at file:line:col".
    pub(crate) fn left_pending(&self) -> Vec<String> {
        self.shared
            .debug
            .as_ref()
            .map_or_else(Vec::new, |d| d.registry.left_pending())
    }

    /// Whether debug mode is on: [`Builder::debug`], or when that was left
    /// unset, the `RUNNER_DEBUG` environment variable (read once per process,
    /// when the first runner is built).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().debug(true).build();
    /// assert!(runner.is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.shared.debug.is_some()
    }

    /// Closes the runner: cancels every task still alive, shuts the
    /// blocking pool down waiting up to the `shutdown_timeout`, and drops
    /// the runtime and the context. asyncio's `Runner.close()`.
    ///
    /// Cancelling works as asyncio's: every task still alive is asked to
    /// cancel. A task that listens for cancellation
    /// ([`task::cancelled`](crate::task::cancelled),
    /// [`task::is_cancelled`](crate::task::is_cancelled), a
    /// [`TaskGroup::join`](crate::TaskGroup::join)) is woken and the loop
    /// runs while it finishes its cleanup, awaits included, each within the
    /// [`cancel_grace`](Builder::cancel_grace); any other task is dropped at
    /// once (its `Drop` cleanup runs before `close` returns), and nothing
    /// waits for it. What is left when the grace ends is dropped.
    ///
    /// Idempotent. Panics of tasks that nobody retrieved are reported as
    /// their handles drop, those raised during the cleanup too; in debug
    /// mode, tasks still pending are reported first, and each task dropped
    /// at the end of its grace. If blocking work started with
    /// [`spawn_blocking`](crate::spawn_blocking) is still running when the
    /// timeout expires, a warning is emitted and the work is left behind.
    ///
    /// Called from inside a running loop (so blocking is impossible), the
    /// runtime is shut down in the background instead, with a warning.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::new();
    /// runner.run(async {
    ///     runner::spawn_local(std::future::pending::<()>());
    /// }).unwrap();
    /// runner.close(); // the pending task is dropped here
    /// runner.close(); // no-op
    /// assert!(runner.run(async {}).is_err());
    /// ```
    #[track_caller]
    pub fn close(&mut self) {
        self.close_by(ClosedBy::Call(Location::caller()));
    }

    /// [`close`](Self::close), by a call or by the runner's `Drop`.
    fn close_by(&mut self, by: ClosedBy) {
        if let State::Closed(_) = self.state {
            return;
        }
        let at = by.at();
        if let State::Initialized(lp) = mem::replace(&mut self.state, State::Closed(Some(at))) {
            lp.close(by, &self.shared, self.settings.shutdown_timeout);
        }
    }
}

/// Who closes a runner, as the warnings of `close` name it.
#[derive(Clone, Copy)]
enum ClosedBy {
    /// `Runner::close`, called here.
    Call(&'static Location<'static>),
    /// The runner's `Drop`, which has no caller location: the runner
    /// created here.
    Drop(&'static Location<'static>),
}

impl ClosedBy {
    /// The call, or where the dropped runner was created.
    fn at(self) -> &'static Location<'static> {
        match self {
            ClosedBy::Call(at) | ClosedBy::Drop(at) => at,
        }
    }

    /// Says who closed the runner: "close called at ..." or "dropped without
    /// close; created at ...".
    fn report(self, why: &str, fate: &str) {
        match self {
            ClosedBy::Call(at) => debug::closed_in_background(at, false, why, fate),
            ClosedBy::Drop(at) => debug::closed_in_background(at, true, why, fate),
        }
    }
}

impl Loop {
    /// asyncio's `close` ladder: each step runs even if an earlier one
    /// panicked (what is left is dropped while unwinding, in field order).
    /// `by`: the `close` call, or the runner's `Drop`.
    fn close(self, by: ClosedBy, shared: &Arc<LoopShared>, timeout: Duration) {
        let at = by.at();
        let Loop {
            mut event_loop,
            context,
            quit,
        } = self;
        if current::thread_is_exiting() {
            // A runner kept in a thread-local, dropped at thread exit after
            // the thread's other thread-locals (see `current`): Tokio's may
            // be gone (its tasks and runtime cannot be dropped without it)
            // or, where thread-locals are OS keys, made anew (Tokio would
            // take this for another thread), and on Windows this runs under
            // the loader lock (waiting for the blocking pool would hang).
            by.report(
                "while its thread exits",
                "its runtime and tasks are left behind, never dropped",
            );
            event_loop.abandon();
            return;
        }
        let Ok(_guard) = LoopGuard::enter(at, shared) else {
            by.report(
                "from inside a running loop",
                "its runtime is shut down without waiting for its tasks",
            );
            event_loop.shutdown_background();
            return;
        };
        if let Some(debug) = &shared.debug {
            debug.registry.report_leftovers();
            debug.registry.closing();
        }
        // asyncio's `_cancel_all_tasks`: cancel every task, then wait for
        // those that listen (each within the cancel grace).
        if !shared.cancel_grace.is_zero() && shared.parked.close() {
            event_loop.run_until(shared.parked.all_asked_ended(), shared.cancel_grace);
        }
        event_loop.shutdown(timeout);
        let still_running = shared.blocking_running();
        if still_running > 0 {
            debug::blocking_left_behind(still_running, timeout);
        }
        drop(context);
        // Until here, SIGQUIT also shows what close waits for.
        drop(quit);
    }
}

/// Runs the main task until it completes or a handled signal cancels it
/// (see the signal module); without signal handling, just the main task.
/// In debug mode a second Ctrl-C prints `last_words` before it kills.
///
/// The main task is dropped here, inside the loop (its `Drop` may use the
/// runtime), whatever ends the run.
async fn interruptible<F: Future>(
    mut main: Pin<&mut Option<F>>,
    signals: SignalConfig,
    owner: usize,
    last_words: Option<LastWords>,
    on_press: impl FnOnce() -> Duration,
) -> Result<F::Output, Error> {
    let running = pin!(poll_fn(|cx| {
        let main = main.as_mut().as_pin_mut();
        main.expect("polled until it completes, then dropped")
            .poll(cx)
    }));
    let result = match Interrupts::arm(signals, owner, last_words) {
        Some(mut interrupts) => interrupts.run_main(running, on_press).await,
        None => Ok(running.await),
    };
    main.set(None);
    result
}

/// What the first Ctrl-C does to the main task: a main task that listens
/// for cancellation is asked to cancel and gets `interrupt_grace` if set,
/// else the runner's cancel grace; one that does not gets `interrupt_grace`
/// (zero by default: it is dropped at once).
fn main_task_pressed(shared: &LoopShared, interrupt_grace: Duration) -> Duration {
    match shared.main_cancel() {
        Some(main) => {
            main.request(None);
            if interrupt_grace.is_zero() {
                shared.cancel_grace
            } else {
                interrupt_grace
            }
        }
        None => interrupt_grace,
    }
}

/// What debug mode prints when a second Ctrl-C kills the process: the task
/// dump (taken without waiting on any lock the stuck loop may hold).
fn last_words(shared: &Arc<LoopShared>, at: &'static Location<'static>) -> LastWords {
    let tasks = DumpSource::new(shared.clone());
    Arc::new(move || {
        let dump = tasks.dump();
        format!(
            "runner: a second Ctrl-C kills the process; the run started at {at} had not \
             finished. Its tasks:\n{dump}\n"
        )
    })
}

/// What SIGQUIT prints in debug mode: the task dump, taken without waiting
/// on any lock the loop may hold.
fn quit_words(shared: &Arc<LoopShared>, at: &'static Location<'static>) -> LastWords {
    let tasks = DumpSource::new(shared.clone());
    Arc::new(move || debug::dump::on_quit(&tasks.dump(), at))
}

/// Explains a refused nested run, in debug mode.
fn explain_nested(at: &Location<'_>) {
    let what = match current::running_loop() {
        Some(running) => format!(
            "refused to run: this thread is already running a runner loop, entered by \
             the call at {running}; `.await` the future inside it instead"
        ),
        None => "refused to run: this thread is driving a Tokio runtime (`#[tokio::main]`, \
                 a task, or a thread that entered a runtime handle); `.await` the future, \
                 or start the runner in `spawn_blocking` or on a plain thread"
            .to_owned(),
    };
    debug::misuse(&what, at);
}

/// Explains a refused run on a closed runner, in debug mode.
fn explain_refusal(shared: &LoopShared, err: &Error, state: &State, at: &Location<'_>) {
    if shared.debug.is_none() {
        return;
    }
    let what = match (err, state) {
        (Error::Closed, State::Closed(Some(closed))) => format!(
            "refused to run: the runner was closed at {closed}; \
             create a new `Runner` to run more"
        ),
        (Error::Closed, State::Closed(None)) => "refused to run: the runner is closed \
            because its runtime factory failed on first use; create a new `Runner`"
            .to_owned(),
        _ => format!("refused to run: {err}"),
    };
    debug::misuse(&what, at);
}

impl Default for Runner {
    #[track_caller]
    fn default() -> Self {
        Runner::new()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.close_by(ClosedBy::Drop(self.created_at));
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Created => "created",
            State::Initialized(_) => "initialized",
            State::Closed(_) => "closed",
        };
        f.debug_struct("Runner")
            .field("state", &state)
            .field("debug", &self.is_debug())
            .field("lost_panic", &self.settings.lost_panic)
            .finish_non_exhaustive()
    }
}
