//! The loop's life: [`run`], [`Runner`] and its [`Builder`].
//!
//! A runner is created (nothing built), initialised by its first `run` or
//! `handle` (runtime, `LocalSet` and context built), and closed (tasks
//! cancelled, blocking pool shut down, runtime dropped), as asyncio's
//! `Runner` in `Lib/asyncio/runners.py`.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::mem;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio::task::LocalSet;

use crate::Error;
use crate::context::{Context, copy_context};
use crate::debug;
use crate::guard::{self, LoopGuard};
use crate::signal::{Interrupts, LastWords, SignalConfig};
use crate::task::{self, DebugShared, LoopShared, TaskMeta};

/// The output of a future that never completes.
enum Never {}

/// A closure that builds the runtime (asyncio's `loop_factory`).
type RuntimeFactory = Box<dyn FnOnce() -> io::Result<Runtime>>;

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
    let location = Location::caller();
    let mut runner = Runner::new();
    let result = runner.run_at(future, None, location);
    runner.close();
    result
}

/// A reusable event loop: one runtime, one [`LocalSet`] and one [`Context`]
/// kept across many [`run`](Self::run)s, as asyncio's `asyncio.Runner`.
///
/// Nothing is built until the first `run` (or [`handle`](Self::handle)).
/// Tasks spawned in one run stay alive and continue in the next; values set
/// in the runner's context in one run are seen by the next.
/// [`close`](Self::close) (or dropping the runner) cancels what is left. A
/// runner is `!Send`: it belongs to the thread that drives it.
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
    config: Config,
    /// Created, initialised or closed.
    state: State,
    /// What the runner's tasks carry; made at build so that what it counts
    /// outlives the loop.
    shared: Arc<LoopShared>,
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
    /// because the runtime could not be built.
    Closed(Option<&'static Location<'static>>),
}

/// What a runner builds on first use.
struct Loop {
    /// The Tokio runtime that does the work.
    runtime: Runtime,
    /// Where `spawn_local` tasks live; entered while the main task runs.
    local: LocalSet,
    /// The runner's context: every `run` runs in it.
    context: Context,
    /// What the runner's tasks carry.
    shared: Arc<LoopShared>,
    /// The main task's name and spawn site (the site is set by each `run`),
    /// made once rather than per run.
    main: Box<TaskMeta>,
}

/// The builder's settings.
struct Config {
    debug: bool,
    factory: Option<RuntimeFactory>,
    shutdown_timeout: Duration,
    signals: SignalConfig,
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

    fn run_at<F: Future>(
        &mut self,
        future: F,
        context: Option<&Context>,
        location: &'static Location<'static>,
    ) -> Result<F::Output, Error> {
        let _guard = LoopGuard::enter(location).inspect_err(|_| self.explain_nested(location))?;
        let Config {
            debug: is_debug,
            signals,
            ..
        } = self.config;
        let lp = match self.lazy_init() {
            Ok(lp) => lp,
            Err(err) => {
                if is_debug {
                    self.explain_refusal(&err, location);
                }
                return Err(err);
            }
        };
        let Loop {
            runtime,
            local,
            context: own_context,
            shared,
            main: meta,
        } = lp;
        meta.location = location;
        let context = context.unwrap_or(own_context);
        let mut runner = Some(shared.clone());
        let _runner = task::enter_runner(&mut runner);
        let slow_poll = shared.debug.as_ref().map(|d| d.slow_poll);
        let main = context.scope_ref(debug::Timed::new(future, meta, slow_poll));
        // Debug mode's words before a second Ctrl-C kills (the task dump's
        // place; for now, where the run started).
        let last_words = is_debug.then(|| -> LastWords {
            Arc::new(move || {
                format!(
                    "runner: a second Ctrl-C kills the process; the main task of the run \
                     started at {location} had not finished\n"
                )
            })
        });
        let mut interrupts = Interrupts::arm(signals, task::runner_id(shared), last_words);
        // The main future moves in (it is dropped inside the loop, where its
        // `Drop` may still use the runtime); the guard, large for its timer,
        // is boxed so the future moved around by `block_on` stays small.
        let main = async move {
            let main = pin!(main);
            match &mut interrupts {
                Some(interrupts) => Box::pin(interrupts.run_main(main)).await,
                None => Ok(main.await),
            }
        };
        if runtime.handle().runtime_flavor() == RuntimeFlavor::CurrentThread {
            return local.block_on(runtime, main);
        }
        // A multi-thread runtime: the main task may call `block_in_place`, as
        // the body of `#[tokio::main]` may, but not inside the `LocalSet`'s
        // own poll, which forbids it. So the main task is polled beside the
        // `LocalSet`, which is entered so that `spawn_local` finds it. (On a
        // current-thread runtime `block_in_place` is never allowed, and the
        // `LocalSet`'s own driving is cheaper: no wake-up per `spawn_local`.)
        let _local = local.enter();
        let local_tasks = poll_fn(|cx| {
            // Ready means "no local task left"; more may be spawned later.
            let _ = Pin::new(&mut *local).poll(cx);
            Poll::<Never>::Pending
        });
        runtime.block_on(async move {
            tokio::select! {
                biased;
                output = main => output,
                never = local_tasks => match never {},
            }
        })
    }

    fn explain_nested(&self, location: &Location<'_>) {
        if !self.config.debug {
            return;
        }
        let what = match guard::running_loop() {
            Some(running) => format!(
                "refused to run: this thread is already running a runner loop, entered by \
                 the call at {running}; `.await` the future inside it instead"
            ),
            None => "refused to run: this thread is driving a Tokio runtime (`#[tokio::main]`, \
                     a task, or a thread that entered a runtime handle); `.await` the future, \
                     or start the runner in `spawn_blocking` or on a plain thread"
                .to_owned(),
        };
        debug::misuse(&what, location);
    }

    fn explain_refusal(&self, err: &Error, location: &Location<'_>) {
        let what = match (err, &self.state) {
            (Error::Closed, State::Closed(Some(closed))) => format!(
                "refused to run: the runner was closed at {closed}; \
                 create a new `Runner` to run more"
            ),
            (Error::Closed, State::Closed(None)) => "refused to run: the runner is closed \
                because its runtime factory failed on first use; create a new `Runner`"
                .to_owned(),
            _ => format!("refused to run: {err}"),
        };
        debug::misuse(&what, location);
    }

    /// Builds the loop on first use: asyncio's `_lazy_init`.
    fn lazy_init(&mut self) -> Result<&mut Loop, Error> {
        if let State::Created = self.state {
            let runtime = match self.config.factory.take() {
                Some(factory) => factory(),
                None => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build(),
            };
            match runtime {
                Ok(runtime) => {
                    self.state = State::Initialized(Loop::new(runtime, self.shared.clone()))
                }
                Err(err) => {
                    // The factory is spent: a runner whose loop could not be
                    // built cannot run anything.
                    self.state = State::Closed(None);
                    return Err(Error::Runtime(err));
                }
            }
        }
        match &mut self.state {
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
        Ok(self.lazy_init()?.runtime.handle().clone())
    }

    /// What the runner's tasks share, for `__private`.
    pub(crate) fn shared(&self) -> &LoopShared {
        &self.shared
    }

    /// Whether debug mode is on: [`Builder::debug`], or when that was left
    /// unset, the `RUNNER_DEBUG` environment variable read when the runner
    /// was built.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().debug(true).build();
    /// assert!(runner.is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.config.debug
    }

    /// Closes the runner: cancels every task still alive (each is dropped,
    /// so its `Drop` cleanup runs before `close` returns), shuts the
    /// blocking pool down waiting up to the `shutdown_timeout`, and drops
    /// the runtime and the context. asyncio's `Runner.close()`.
    ///
    /// Idempotent. Panics of tasks that nobody retrieved are reported as
    /// their handles drop; in debug mode, tasks still pending are reported
    /// first. If blocking work started with
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
        if let State::Closed(_) = self.state {
            return;
        }
        let at = Location::caller();
        if let State::Initialized(lp) = mem::replace(&mut self.state, State::Closed(Some(at))) {
            lp.close(at, self.config.shutdown_timeout);
        }
    }
}

impl Loop {
    fn new(runtime: Runtime, shared: Arc<LoopShared>) -> Self {
        Loop {
            runtime,
            local: LocalSet::new(),
            context: copy_context(),
            shared,
            main: Box::new(TaskMeta::new(Some("main"), Location::caller())),
        }
    }

    /// Each step runs even if an earlier one panicked: what is left is
    /// dropped while unwinding, in field order. `at` is the `close` call.
    fn close(self, at: &'static Location<'static>, shutdown_timeout: Duration) {
        let Loop {
            runtime,
            local,
            context,
            shared,
            main: _,
        } = self;
        let Ok(_guard) = LoopGuard::enter(at) else {
            tracing::warn!(
                target: "runner",
                called_at = %at,
                "Runner closed from inside a running loop (close called at {at}): its runtime \
                 is shut down in the background without waiting for its tasks; close runners \
                 outside async code",
            );
            drop(local);
            runtime.shutdown_background();
            return;
        };
        if let Some(debug) = &shared.debug {
            debug.registry.report_leftovers();
        }
        {
            let _in_runtime = runtime.enter();
            drop(local);
        }
        runtime.shutdown_timeout(shutdown_timeout);
        let still_running = shared.blocking.load(Ordering::Acquire);
        if still_running > 0 {
            tracing::warn!(
                target: "runner",
                still_running,
                timeout_s = shutdown_timeout.as_secs_f64(),
                "Runner::close: {still_running} blocking task(s) started with \
                 runner::spawn_blocking still running after the shutdown timeout of {:?}; \
                 they are left behind",
                shutdown_timeout,
            );
        }
        drop(context);
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.close();
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
            .field("debug", &self.config.debug)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Runner`]. Every setting has a default; see each method.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let mut runner = runner::Runner::builder()
///     .debug(true)
///     .shutdown_timeout(Duration::from_secs(10))
///     .handle_sigint(false)
///     .slow_poll_threshold(Duration::from_millis(50))
///     .build();
/// assert!(runner.is_debug());
/// runner.run(async {}).unwrap();
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    /// `None`: follow `RUNNER_DEBUG`.
    debug: Option<bool>,
    /// `None`: a current-thread runtime with all drivers enabled.
    factory: Option<RuntimeFactory>,
    /// How long `close` waits for blocking work.
    shutdown_timeout: Duration,
    /// Which signals `run` handles, and the grace period.
    signals: SignalConfig,
    /// The debug-mode slow-poll threshold.
    slow_poll_threshold: Duration,
    /// What a panic nobody can retrieve does.
    lost_panic: LostPanic,
}

/// What a runner does when a task panics and nobody can retrieve the panic
/// any more (its [`JoinHandle`](crate::JoinHandle) was dropped unread): see
/// [`Builder::lost_panic`].
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::builder()
///     .lost_panic(runner::LostPanic::CancelMain)
///     .build();
/// # drop(runner);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostPanic {
    /// Report it (an ERROR event under the `runner` target) and go on:
    /// asyncio's "Task exception was never retrieved".
    #[default]
    Report,
    /// Report it and cancel the main task, so that `run` returns
    /// `Error::TaskPanicked` (Tokio's `unhandled_panic = "shutdown_runtime"`).
    CancelMain,
}

impl Builder {
    /// A builder with every default: debug from `RUNNER_DEBUG`, a
    /// current-thread runtime, 300 s shutdown timeout, SIGINT handled,
    /// SIGTERM not, no interrupt grace, 100 ms slow-poll threshold.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Builder::new().build();
    /// # drop(runner);
    /// ```
    pub fn new() -> Self {
        Builder {
            debug: None,
            factory: None,
            shutdown_timeout: Duration::from_secs(300),
            signals: SignalConfig::default(),
            slow_poll_threshold: Duration::from_millis(100),
            lost_panic: LostPanic::Report,
        }
    }

    /// Turns debug mode on or off (default: unset, which follows the
    /// `RUNNER_DEBUG` environment variable: on when it is set to anything
    /// but empty, `0` or `false`). `debug(false)` wins over the variable.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!runner::Runner::builder().debug(false).build().is_debug());
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// Supplies the runtime: asyncio's `loop_factory`. Called exactly once,
    /// by the first `run` or `handle` (default: a current-thread runtime
    /// with all drivers enabled). Any runtime works, multi-thread included;
    /// the main task and `spawn_local` tasks still run on the thread that
    /// calls `run`. Enable the time driver if you use
    /// [`interrupt_grace`](Self::interrupt_grace).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::builder()
    ///     .runtime(|| {
    ///         tokio::runtime::Builder::new_multi_thread()
    ///             .worker_threads(2)
    ///             .enable_all()
    ///             .build()
    ///     })
    ///     .build();
    /// let on_worker = runner.run(async {
    ///     runner::spawn(async { tokio::runtime::worker_index() }).await.unwrap()
    /// });
    /// assert!(on_worker.unwrap().is_some());
    /// ```
    pub fn runtime<F>(mut self, factory: F) -> Self
    where
        F: FnOnce() -> io::Result<Runtime> + 'static,
    {
        self.factory = Some(Box::new(factory));
        self
    }

    /// How long [`Runner::close`] waits for blocking work to finish (default
    /// 300 s, asyncio's executor shutdown timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder()
    ///     .shutdown_timeout(std::time::Duration::from_secs(1))
    ///     .build();
    /// # drop(runner);
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether `run` handles Ctrl-C (default `true`): the first press
    /// cancels the main task, the second kills the process. It only ever
    /// applies on the main thread, and only when SIGINT was at its default
    /// disposition when the first such run started, as asyncio only takes
    /// over Python's default handler; between runs Ctrl-C does what the
    /// default does.
    ///
    /// A program that handles Ctrl-C itself keeps its own handling: once it
    /// installs a handler during a run (`tokio::signal::ctrl_c()`,
    /// `signal(SignalKind::interrupt())`, signal-hook, the ctrlc crate),
    /// every press from then on is the program's, and the runner cancels
    /// nothing and kills nothing. For runner's protocol instead (a graceful
    /// part with a deadline, then cancellation, and a second press that
    /// kills), use [`interrupt_token`](crate::interrupt_token) or
    /// [`interrupted`](crate::interrupted) with
    /// [`interrupt_grace`](Builder::interrupt_grace) rather than a handler.
    ///
    /// Works on Linux, macOS, the BSDs with a main-thread query (FreeBSD,
    /// DragonFly, OpenBSD) and Windows (Ctrl-C and Ctrl-Break); elsewhere
    /// runs take no signals and Ctrl-C keeps its default action.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().handle_sigint(false).build();
    /// # drop(runner);
    /// ```
    pub fn handle_sigint(mut self, on: bool) -> Self {
        self.signals.sigint = on;
        self
    }

    /// Whether `run` treats SIGTERM as it treats Ctrl-C (default `false`),
    /// for services stopped by supervisors and container runtimes.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().handle_sigterm(true).build();
    /// # drop(runner);
    /// ```
    pub fn handle_sigterm(mut self, on: bool) -> Self {
        self.signals.sigterm = on;
        self
    }

    /// How long the main task may go on after the first Ctrl-C before it is
    /// cancelled (default zero: cancelled at once). During the grace,
    /// [`interrupted`](crate::interrupted) has completed and the main task
    /// can finish on its own; if it returns a value, `run` returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder()
    ///     .interrupt_grace(std::time::Duration::from_secs(2))
    ///     .build();
    /// # drop(runner);
    /// ```
    pub fn interrupt_grace(mut self, grace: Duration) -> Self {
        self.signals.grace = grace;
        self
    }

    /// In debug mode, polls that hold the thread longer than this are
    /// reported (default 100 ms, asyncio's `slow_callback_duration`).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder()
    ///     .slow_poll_threshold(std::time::Duration::from_millis(10))
    ///     .build();
    /// # drop(runner);
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Self {
        self.slow_poll_threshold = threshold;
        self
    }

    /// What a task panic that nobody can retrieve any more does (default
    /// [`LostPanic::Report`]: it is reported and the run goes on).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder()
    ///     .lost_panic(runner::LostPanic::Report)
    ///     .build();
    /// # drop(runner);
    /// ```
    pub fn lost_panic(mut self, policy: LostPanic) -> Self {
        self.lost_panic = policy;
        self
    }

    /// Builds the runner. Nothing is started yet: the runtime is built by
    /// the first `run` or `handle`. `RUNNER_DEBUG` is read here.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::builder().build();
    /// runner.run(async {}).unwrap();
    /// ```
    pub fn build(self) -> Runner {
        let debug = self.debug.unwrap_or_else(debug::env_debug);
        let shared = Arc::new(LoopShared {
            debug: debug.then(|| DebugShared::new(self.slow_poll_threshold)),
            ..LoopShared::default()
        });
        Runner {
            shared,
            config: Config {
                debug,
                factory: self.factory,
                shutdown_timeout: self.shutdown_timeout,
                signals: self.signals,
            },
            state: State::Created,
            _not_send: PhantomData,
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("debug", &self.debug)
            .field("custom_runtime", &self.factory.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("signals", &self.signals)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .field("lost_panic", &self.lost_panic)
            .finish()
    }
}
