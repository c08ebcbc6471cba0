//! [`Builder`]: every setting of a [`Runner`], each with its default.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::Runner;
use crate::debug;
use crate::event_loop::RuntimeFactory;
use crate::signal::SignalConfig;

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
    /// How long a cooperative task may run after a cancellation request.
    cancel_grace: Duration,
    /// Spawned tasks run in the `tracing` span current at spawn.
    inherit_span: bool,
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
    /// SIGTERM not, no interrupt grace, 30 s cancel grace, 100 ms slow-poll
    /// threshold, lost panics reported, spans inherited by spawned tasks.
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
            cancel_grace: Duration::from_secs(30),
            inherit_span: true,
        }
    }

    /// Turns debug mode on or off (default: unset, which follows the
    /// `RUNNER_DEBUG` environment variable: on when it is set to anything
    /// but `0`, `false`, `off`, `no` or an empty value, compared ignoring
    /// case and surrounding whitespace; the variable is read once per
    /// process, when the first runner is built). `debug(false)` wins over
    /// the variable.
    ///
    /// Debug mode reports slow polls (also while they still hold their
    /// thread), lost wakers, await cycles and misuse, and
    /// [`task::dump`](crate::task::dump) lists every task. On Unix, from
    /// the first debug run on the main thread that handles signals
    /// ([`handle_sigint`](Self::handle_sigint), on by default) until the
    /// runner closes, SIGQUIT (Ctrl-\\) prints the task dump to stderr and
    /// the program goes on, as a JVM prints its threads; SIGQUIT is taken only
    /// where it is at its default disposition, and given back to it at close.
    /// Outside debug mode SIGQUIT keeps its default (the process quits).
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

    /// How long a task that listens for cancellation may go on after it was
    /// asked to cancel, before it is dropped (default 30 s, the usual grace
    /// of a container stop; `Duration::ZERO` drops it at once).
    ///
    /// A task *listens* once it has called
    /// [`task::cancelled`](crate::task::cancelled) or
    /// [`task::is_cancelled`](crate::task::is_cancelled), or while it awaits
    /// [`TaskGroup::join`](crate::TaskGroup::join): asyncio's
    /// `except CancelledError:` cleanup, which may still `await`. Requests
    /// come from [`JoinHandle::cancel`](crate::JoinHandle::cancel), a
    /// [`TaskGroup`](crate::TaskGroup), [`Runner::close`] (for every task
    /// still alive) and the first Ctrl-C (for the main task, whose grace is
    /// [`interrupt_grace`](Self::interrupt_grace) where that is set). A task
    /// that never listens is dropped at once, and nothing ever waits for it.
    /// The grace needs Tokio's time driver (on in the default runtime and
    /// under the attributes).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder()
    ///     .cancel_grace(std::time::Duration::from_secs(5))
    ///     .build();
    /// # drop(runner);
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Whether tasks spawned in the runner run inside the `tracing` span
    /// that was current where they were spawned (default `true`), as context
    /// variables follow them: [`spawn`](crate::spawn),
    /// [`spawn_local`](crate::spawn_local) and
    /// [`spawn_blocking`](crate::spawn_blocking) enter the spawner's span
    /// around each poll of the task (and around its drop), or around the
    /// closure, so events inside have it as their parent. A
    /// `spawn_blocking` closure also runs with the spawner's default
    /// subscriber, wherever the blocking pool's thread came from.
    /// (Tokio's spawns carry neither; tokio#2396 asks for the span.)
    ///
    /// With `false`, tasks run outside any span unless they enter one, and
    /// blocking closures with the pool thread's own default subscriber, as
    /// under Tokio. When no subscriber is set the spawn costs one check
    /// either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().inherit_span(false).build();
    /// # drop(runner);
    /// ```
    pub fn inherit_span(mut self, on: bool) -> Self {
        self.inherit_span = on;
        self
    }

    /// In debug mode, polls that hold the thread longer than this are
    /// reported (default 100 ms, asyncio's `slow_callback_duration`): by a
    /// watchdog thread while they still hold it, and again when they return,
    /// with how long they took. The watchdog looks four times per threshold,
    /// and at least every 250 ms.
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
    /// the first `run` or `handle`. Debug mode is decided here (`RUNNER_DEBUG`
    /// is read by the first `build` of the process).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = runner::Runner::builder().build();
    /// runner.run(async {}).unwrap();
    /// ```
    #[track_caller]
    pub fn build(self) -> Runner {
        let debug = self.debug.unwrap_or_else(debug::env_debug);
        let settings = Settings {
            factory: self.factory,
            shutdown_timeout: self.shutdown_timeout,
            signals: self.signals,
            lost_panic: self.lost_panic,
            cancel_grace: self.cancel_grace,
            inherit_span: self.inherit_span,
        };
        Runner::with_settings(settings, debug.then_some(self.slow_poll_threshold))
    }
}

/// What a [`Runner`] keeps of its builder (debug mode and the slow-poll
/// threshold live in the state its tasks share).
pub(crate) struct Settings {
    /// Builds the runtime on first use; `None` once used, or for the default.
    pub(crate) factory: Option<RuntimeFactory>,
    /// How long `close` waits for blocking work.
    pub(crate) shutdown_timeout: Duration,
    /// Which signals `run` handles, and the grace period.
    pub(crate) signals: SignalConfig,
    /// What a panic nobody can retrieve does.
    pub(crate) lost_panic: LostPanic,
    /// How long a cooperative task may run after a cancellation request.
    pub(crate) cancel_grace: Duration,
    /// Spawned tasks run in the `tracing` span current at spawn.
    pub(crate) inherit_span: bool,
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
            .field("cancel_grace", &self.cancel_grace)
            .field("inherit_span", &self.inherit_span)
            .finish()
    }
}
