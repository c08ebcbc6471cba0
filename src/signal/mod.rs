//! Ctrl-C (SIGINT) and, opt-in, SIGTERM: asyncio's protocol, made safe for a
//! library; and SIGQUIT, which prints debug mode's task dump and lets the
//! program go on. The only module with `unsafe`.
//!
//! # The protocol
//!
//! While a runner runs on the main thread with
//! [`handle_sigint`](crate::Builder::handle_sigint) on, the first Ctrl-C
//! cancels the main task ([`Error::Interrupted`]; with
//! [`interrupt_grace`](crate::Builder::interrupt_grace), [`interrupted`] and
//! [`interrupt_token`] fire first and the main task gets that long to finish
//! on its own), and the second kills the process at once, even if the loop
//! is stuck. Between runs, and in runs that do not handle the signal, Ctrl-C
//! does what it would do without the runner: by default it kills.
//!
//! # A program's own handler wins
//!
//! A program that handles Ctrl-C itself keeps its own handling, as under
//! asyncio. Once a handler is installed over runner's during a run
//! (`tokio::signal::ctrl_c()`, `tokio::signal::unix::signal(SignalKind::interrupt())`,
//! signal-hook, the ctrlc crate), every press from then on belongs to the
//! program: the runner cancels nothing and kills nothing, and
//! [`interrupted`] does not fire. So a `#[tokio::main]` server that drains
//! its connections on `ctrl_c()` and returns `Ok(())` does the same under
//! `#[runner::main]`. To get runner's protocol instead (a graceful part with
//! a deadline, and a second press that kills), drop the handler and use
//! [`interrupt_token`] or [`interrupted`] with
//! [`interrupt_grace`](crate::Builder::interrupt_grace).
//!
//! # How
//!
//! The handler is installed once per process, by the first run on the main
//! thread that finds the signal at its default disposition, and is armed and
//! disarmed per run with one atomic store each (no system call on a warm
//! run). A press while no run is armed does what the default would: the
//! handler restores the default disposition and re-raises the signal. A press
//! that reaches the handler through another handler's chain (Tokio's
//! signal-hook-registry calls the handler it replaced) belongs to that
//! handler's owner and does nothing here. The state machine is written down
//! in `DESIGN.md`, "The Ctrl-C state machine".
//!
//! The OS glue lives in `unix.rs` (POSIX calls only) and `windows.rs` (the
//! console control handler); an OS without a known main-thread query gets a
//! fallback that takes no signals.
#![deny(unsafe_op_in_unsafe_fn)]

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread::Thread;
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::sync::{lock, try_lock};

#[cfg(all(unix, not(any(runner_no_signals, runner_windows_glue))))]
#[path = "unix.rs"]
mod sys;

#[cfg(all(any(windows, runner_windows_glue), not(runner_no_signals)))]
#[path = "windows.rs"]
mod sys;

/// No signal handling: what an OS without a backend gets.
#[cfg(any(runner_no_signals, not(any(unix, windows, runner_windows_glue))))]
mod sys {
    use super::Signal;

    pub(super) fn is_main_thread() -> bool {
        false
    }

    pub(super) fn install(_signal: Signal) -> bool {
        false
    }

    pub(super) fn write_stderr(_text: &[u8]) {}

    /// The portable side's OS entry points, unused here.
    #[allow(dead_code)]
    fn unused() {
        let _ = super::press(Signal::Interrupt, true);
        super::wake_up();
        super::say_last_words();
    }
}

/// Which signals a run handles, and how long the main task may go on after
/// the first one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignalConfig {
    pub(crate) sigint: bool,
    pub(crate) sigterm: bool,
    pub(crate) grace: Duration,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            sigint: true,
            sigterm: false,
            grace: Duration::ZERO,
        }
    }
}

/// Text to write to stderr when a second press kills the process (debug
/// mode's task dump). Called on a helper thread; the kill waits for it at
/// most [`LAST_WORDS_LIMIT`].
pub(crate) type LastWords = Arc<dyn Fn() -> String + Send + Sync>;

/// How long a kill waits for the last words.
const LAST_WORDS_LIMIT: Duration = Duration::from_millis(100);

/// The signals the protocol knows. On Windows, Ctrl-C and Ctrl-Break are
/// both `Interrupt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    const ALL: [Signal; 2] = [Signal::Interrupt, Signal::Terminate];

    /// Its bit in [`State::armed`].
    const fn bit(self) -> u8 {
        match self {
            Signal::Interrupt => 1,
            Signal::Terminate => 2,
        }
    }

    const fn index(self) -> usize {
        match self {
            Signal::Interrupt => 0,
            Signal::Terminate => 1,
        }
    }
}

/// Where the armed run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No run is armed: a press that reaches our handler while it is the
    /// installed one acts as the default would (it kills).
    Idle,
    /// A run is armed and no press was handled yet.
    Running,
    /// The first press was handled; the next one kills.
    Interrupted,
    /// A second press is killing the process after the last words.
    Dying,
}

/// The whole state the handler reads, in one byte so that it changes in one
/// atomic step: the phase, which signals the run handles, and whether a
/// second press waits for last words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    phase: Phase,
    /// [`Signal::bit`]s of the signals the armed run handles.
    armed: u8,
    /// A second press kills after the last words (debug mode).
    last_words: bool,
}

impl State {
    const IDLE: State = State {
        phase: Phase::Idle,
        armed: 0,
        last_words: false,
    };

    const fn encode(self) -> u8 {
        let phase = match self.phase {
            Phase::Idle => 0,
            Phase::Running => 1,
            Phase::Interrupted => 2,
            Phase::Dying => 3,
        };
        phase | (self.armed << 2) | ((self.last_words as u8) << 4)
    }

    const fn decode(byte: u8) -> State {
        State {
            phase: match byte & 3 {
                0 => Phase::Idle,
                1 => Phase::Running,
                2 => Phase::Interrupted,
                _ => Phase::Dying,
            },
            armed: (byte >> 2) & 3,
            last_words: byte & 16 != 0,
        }
    }

    fn load() -> State {
        State::decode(STATE.load(Ordering::Acquire))
    }

    /// A press was handled in this run.
    fn pressed(self) -> bool {
        matches!(self.phase, Phase::Interrupted | Phase::Dying)
    }
}

/// The encoded [`State`].
static STATE: AtomicU8 = AtomicU8::new(State::IDLE.encode());
/// The runner whose run is armed (see `shared::id`), 0 if none.
static OWNER: AtomicUsize = AtomicUsize::new(0);
/// Counts armed runs: tells one run's token from the next one's.
static RUNS: AtomicUsize = AtomicUsize::new(0);
/// Whether our handler was installed for each signal (main thread only).
static INSTALLED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// The main task's waker.
static MAIN: AtomicWaker = AtomicWaker::new();
/// Every `interrupted()` waiter.
static WAITERS: Notify = Notify::const_new();
/// The armed run's token, made on first request: (run, token).
static TOKEN: Mutex<Option<(usize, CancellationToken)>> = Mutex::new(None);

/// What the OS glue does with a press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Press {
    /// The press belongs to a handler installed over ours: do nothing.
    Theirs,
    /// The first press of a run: wake the loop ([`wake_up`]).
    Handled,
    /// Kill the process now, as the default disposition would.
    Kill,
    /// Kill the process after [`say_last_words`] (at most 100 ms).
    KillAfterLastWords,
}

/// Decides what a press of `signal` does. Async-signal-safe (atomics only).
/// `ours` says whether our handler is the installed one (false when the
/// press came through another handler's chain).
pub(crate) fn press(signal: Signal, ours: bool) -> Press {
    if !ours {
        return Press::Theirs;
    }
    let mut current = STATE.load(Ordering::Acquire);
    loop {
        let state = State::decode(current);
        if state.armed & signal.bit() == 0 {
            // Idle, or a run that does not handle this signal.
            return Press::Kill;
        }
        let (phase, press) = match state.phase {
            Phase::Running => (Phase::Interrupted, Press::Handled),
            Phase::Interrupted if state.last_words => (Phase::Dying, Press::KillAfterLastWords),
            Phase::Idle | Phase::Interrupted | Phase::Dying => return Press::Kill,
        };
        let next = State { phase, ..state }.encode();
        match STATE.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return press,
            Err(now) => current = now,
        }
    }
}

/// Wakes everything that waits for the first press: the main task,
/// `interrupted()` and the run's token. Called by the watcher thread (Unix)
/// or the console handler's thread (Windows), never in a signal handler.
pub(crate) fn wake_up() {
    if State::load().pressed() {
        cancel_token(RUNS.load(Ordering::Acquire));
    }
    MAIN.wake();
    WAITERS.notify_waiters();
}

/// Cancels the token of run `run`, if one was made.
fn cancel_token(run: usize) {
    let slot = lock(&TOKEN);
    if let Some((made_for, token)) = slot.as_ref() {
        if *made_for == run {
            token.cancel();
        }
    }
}

/// Whether the current task belongs to the armed run's runner.
fn owned_here() -> bool {
    OWNER.load(Ordering::Acquire) == crate::current::runner_id()
}

/// Completes at the first Ctrl-C (or SIGTERM, when handled) that the running
/// runner handles.
///
/// Awaitable from any task of the runner: the main task, tasks spawned with
/// [`spawn`](crate::spawn) / [`spawn_local`](crate::spawn_local) (on the
/// runtime's workers too), [`spawn_blocking`](crate::spawn_blocking)
/// closures (with a runtime handle to block on it), and raw Tokio tasks
/// polled on the runner's own thread. It never completes when the runner
/// does not own the signal: a runner that runs off the process's main
/// thread, with
/// [`handle_sigint(false)`](crate::Builder::handle_sigint), when SIGINT was
/// ignored or already had a handler when the first run started, or once the
/// program installed a handler of its own (`tokio::signal::ctrl_c()` and the
/// like: the presses are the program's then); nor in another runner's tasks.
/// Useful with [`Builder::interrupt_grace`](crate::Builder::interrupt_grace),
/// to finish work in an orderly way before the main task is cancelled.
/// [`interrupt_token`] is the same event as a `CancellationToken`.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// let mut runner = runner::Runner::builder()
///     .interrupt_grace(Duration::from_secs(5))
///     .build();
/// let result = runner.run(async {
///     tokio::select! {
///         _ = runner::interrupted() => "stopped early, cleanly",
///         _ = tokio::time::sleep(Duration::from_secs(60)) => "finished",
///     }
/// });
/// println!("{result:?}");
/// ```
pub async fn interrupted() {
    loop {
        let notified = WAITERS.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if State::load().pressed() && owned_here() {
            return;
        }
        notified.await;
    }
}

/// A [`CancellationToken`] that is cancelled at the first Ctrl-C (or
/// SIGTERM, when handled) that the current run handles: exactly when
/// [`interrupted`] completes.
///
/// This is the ecosystem's "shutdown was requested" type: pass it to an
/// accept loop, to `axum::serve(..).with_graceful_shutdown(token.cancelled_owned())`,
/// to tonic's `serve_with_shutdown`, or to a `TaskTracker`'s tasks. With
/// [`Builder::interrupt_grace`](crate::Builder::interrupt_grace) the main
/// task then has that long to drain before it is cancelled; a second press
/// kills.
///
/// Each run has a token of its own; calls within one run return clones of
/// the same token, wherever the run's code is: the main task, tasks spawned
/// with [`spawn`](crate::spawn) / [`spawn_local`](crate::spawn_local) (on
/// the runtime's workers too), and [`spawn_blocking`](crate::spawn_blocking)
/// closures. Where the run does not own the signal (a runner that runs off
/// the process's main thread, [`handle_sigint(false)`](crate::Builder::handle_sigint),
/// a program that handles Ctrl-C itself), outside any runner, or in another
/// runner's tasks, it returns a token that is never cancelled by a press.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// let mut runner = runner::Runner::builder()
///     .interrupt_grace(Duration::from_secs(10))
///     .build();
/// let drained = runner.run(async {
///     let shutdown = runner::interrupt_token();
///     let worker = runner::spawn({
///         let shutdown = shutdown.clone();
///         async move {
///             let mut done = 0u64;
///             while !shutdown.is_cancelled() {
///                 tokio::time::sleep(Duration::from_millis(100)).await;
///                 done += 1;
///             }
///             done
///         }
///     });
///     shutdown.cancelled().await;
///     worker.await.expect("the worker finished")
/// });
/// println!("{drained:?}");
/// ```
pub fn interrupt_token() -> CancellationToken {
    let state = State::load();
    if state.phase == Phase::Idle || !owned_here() {
        return CancellationToken::new();
    }
    let run = RUNS.load(Ordering::Acquire);
    let mut slot = lock(&TOKEN);
    match slot.as_ref() {
        Some((made_for, token)) if *made_for == run => token.clone(),
        _ => {
            let token = CancellationToken::new();
            // Under the lock: a press either came before (seen here) or its
            // wake-up takes the lock after us (and cancels what we store).
            if State::load().pressed() {
                token.cancel();
            }
            *slot = Some((run, token.clone()));
            token
        }
    }
}

/// One armed run: disarms when dropped.
#[derive(Debug)]
pub(crate) struct Interrupts {
    grace: Duration,
    /// Still armed (disarming is idempotent).
    armed: bool,
    /// Belongs to the main thread.
    _not_send: PhantomData<*const ()>,
}

impl Interrupts {
    /// Arms the configured signals for one run, if this is the main thread
    /// and runner's handler is (or can now be) installed for at least one of
    /// them. `None` if the run takes no signals. `last_words`, if any, is
    /// written to stderr before a second press kills.
    pub(crate) fn arm(
        config: SignalConfig,
        owner: usize,
        last_words: Option<LastWords>,
    ) -> Option<Interrupts> {
        if !(config.sigint || config.sigterm) || !sys::is_main_thread() {
            return None;
        }
        let mut armed = 0;
        for (signal, wanted) in Signal::ALL.into_iter().zip([config.sigint, config.sigterm]) {
            if wanted && installed(signal) {
                armed |= signal.bit();
            }
        }
        if armed == 0 {
            return None;
        }
        let has_last_words = last_words.is_some();
        if let Some(words) = last_words {
            if !last_words::prepare(words) {
                // No helper thread: kill at once, as without last words.
                return Self::armed(config, owner, armed, false);
            }
        }
        Self::armed(config, owner, armed, has_last_words)
    }

    fn armed(
        config: SignalConfig,
        owner: usize,
        armed: u8,
        last_words: bool,
    ) -> Option<Interrupts> {
        OWNER.store(owner, Ordering::Release);
        RUNS.fetch_add(1, Ordering::AcqRel);
        // One store arms every signal at once: a press before it finds the
        // run idle (and kills, as the default would), a press after it is
        // handled. Nothing else writes `Running`, so no press is overwritten.
        let state = State {
            phase: Phase::Running,
            armed,
            last_words,
        };
        STATE.store(state.encode(), Ordering::Release);
        Some(Interrupts {
            grace: config.grace,
            armed: true,
            _not_send: PhantomData,
        })
    }

    /// Runs the main task until it completes or a handled press cancels it,
    /// then disarms. At the press, `on_press` says how long the main task
    /// may go on (zero: it is dropped at once); a main task that
    /// ends within that time gives `run` its output only under
    /// `interrupt_grace` (a graceful part the program asked for), else
    /// `run` still reports the interrupt, as asyncio raises
    /// `KeyboardInterrupt` after the main task handled its cancellation.
    ///
    /// A press that lands while the main task is in its last poll, or in the
    /// instant before the run is disarmed, is not lost: without a grace
    /// period `run` reports it as `Interrupted` (asyncio turns it into
    /// `KeyboardInterrupt` the same way), and once the run is disarmed a
    /// press acts as the default does.
    pub(crate) async fn run_main<F: Future>(
        &mut self,
        mut main: Pin<&mut F>,
        on_press: impl FnOnce() -> Duration,
    ) -> Result<F::Output, Error> {
        let result = tokio::select! {
            biased;
            output = main.as_mut() => Ok(output),
            () = pressed() => Err(Error::Interrupted),
        };
        let result = match result {
            Err(_) => match on_press() {
                grace if grace.is_zero() => Err(Error::Interrupted),
                // Boxed: the timer is large, and only a press with a grace
                // needs it; every run's future stays small without it.
                grace => Box::pin(tokio::time::timeout(grace, main))
                    .await
                    .map_err(|_| Error::Interrupted),
            },
            result => result,
        };
        let pressed = self.disarm();
        match result {
            Ok(_) if pressed && self.grace.is_zero() => Err(Error::Interrupted),
            result => result,
        }
    }

    /// Disarms the run and returns whether a press was handled during it.
    /// Idempotent: only the first call touches anything.
    fn disarm(&mut self) -> bool {
        if !std::mem::replace(&mut self.armed, false) {
            return false;
        }
        let run = RUNS.load(Ordering::Acquire);
        let was = State::decode(STATE.swap(State::IDLE.encode(), Ordering::AcqRel));
        OWNER.store(0, Ordering::Release);
        if was.pressed() {
            // The watcher may not have woken yet: the token must not miss it.
            cancel_token(run);
        }
        if was.last_words {
            last_words::clear();
        }
        was.pressed()
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// Whether our handler is installed for `signal`, installing it now if the
/// signal is at its default disposition. Main thread only; once installed it
/// stays (runs arm and disarm it).
fn installed(signal: Signal) -> bool {
    let flag = &INSTALLED[signal.index()];
    if flag.load(Ordering::Relaxed) {
        return true;
    }
    let now = sys::install(signal);
    flag.store(now, Ordering::Relaxed);
    now
}

/// Completes once the run was interrupted.
fn pressed() -> impl Future<Output = ()> {
    poll_fn(|cx| {
        MAIN.register(cx.waker());
        if State::load().pressed() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// A debug-mode runner's dump for SIGQUIT (Unix): while one is held,
/// SIGQUIT (Ctrl-\\) writes every held runner's dump to stderr and the
/// program goes on, as a JVM prints its threads. Dropped when the runner
/// closes; when the last one goes, SIGQUIT is given back to its default.
#[derive(Debug)]
pub(crate) struct QuitDump(
    /// Its place in the list of dumps; `None` if SIGQUIT was not taken.
    Option<u64>,
);

/// Makes SIGQUIT write `dump` to stderr until the returned guard is dropped:
/// on Unix, on the main thread, if SIGQUIT is at its default disposition (or
/// already runner's, for another runner's dump). Otherwise the guard holds
/// nothing, and SIGQUIT keeps its disposition.
pub(crate) fn dump_on_quit(dump: LastWords) -> QuitDump {
    #[cfg(all(unix, not(any(runner_no_signals, runner_windows_glue))))]
    if sys::is_main_thread() {
        return QuitDump(quit::add(dump));
    }
    drop(dump);
    QuitDump(None)
}

impl Drop for QuitDump {
    fn drop(&mut self) {
        if let Some(_key) = self.0 {
            #[cfg(all(unix, not(any(runner_no_signals, runner_windows_glue))))]
            quit::remove(_key);
        }
    }
}

/// SIGQUIT's dumps: the list the watcher prints, and the handler's switch.
#[cfg(all(unix, not(any(runner_no_signals, runner_windows_glue))))]
mod quit {
    use super::*;

    /// The dumps, each under its key; SIGQUIT is ours while it is not
    /// empty.
    static DUMPS: Mutex<Vec<(u64, LastWords)>> = Mutex::new(Vec::new());
    /// Whether a SIGQUIT that reaches our handler prints (else it kills, as
    /// the default would).
    static ARMED: AtomicBool = AtomicBool::new(false);
    /// The next key.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// Adds `dump`, taking SIGQUIT over if this is the first: `None` if
    /// SIGQUIT is not at its default disposition.
    pub(super) fn add(dump: LastWords) -> Option<u64> {
        let mut dumps = lock(&DUMPS);
        if dumps.is_empty() {
            if !sys::install_quit() {
                return None;
            }
            ARMED.store(true, Ordering::Release);
        }
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        dumps.push((key, dump));
        Some(key)
    }

    /// Removes a dump; the last one gives SIGQUIT back to its default.
    pub(super) fn remove(key: u64) {
        let mut dumps = lock(&DUMPS);
        dumps.retain(|(k, _)| *k != key);
        if dumps.is_empty() {
            ARMED.store(false, Ordering::Release);
            sys::give_back_quit();
        }
    }

    /// Whether a SIGQUIT is to be printed. Async-signal-safe.
    pub(in super::super) fn armed() -> bool {
        ARMED.load(Ordering::Acquire)
    }

    /// Writes every dump to stderr. Called by the watcher thread, never in a
    /// signal handler; the dumps take no lock a stuck loop may hold, and the
    /// list's lock is only held to copy it (and by a runner adding or
    /// removing its dump, never around other code).
    pub(in super::super) fn print() {
        let dumps: Vec<LastWords> = lock(&DUMPS).iter().map(|(_, dump)| dump.clone()).collect();
        for dump in dumps {
            sys::write_stderr(dump().as_bytes());
        }
    }
}

/// Writes the armed run's last words to stderr, waiting for them at most
/// [`LAST_WORDS_LIMIT`]. Called on the thread that is about to kill the
/// process (the watcher, or the console handler's thread), never in a
/// signal handler; it takes no lock that the loop's thread may hold.
pub(crate) fn say_last_words() {
    if let Some(text) = last_words::within(LAST_WORDS_LIMIT) {
        sys::write_stderr(text.as_bytes());
    }
}

/// The last words: computed on a helper thread started once (so the killing
/// thread allocates nothing and waits on nothing a stuck thread may hold).
mod last_words {
    use super::*;

    /// The armed run's last words.
    static WORDS: Mutex<Option<LastWords>> = Mutex::new(None);
    /// The helper thread, parked until asked.
    static HELPER: std::sync::OnceLock<Option<Thread>> = std::sync::OnceLock::new();
    /// Requests made; the helper answers each with (request, text).
    static ASKED: AtomicUsize = AtomicUsize::new(0);
    static ANSWER: Mutex<Option<(usize, Option<String>)>> = Mutex::new(None);

    /// Stores `words` for the run being armed and makes sure the helper
    /// exists. `false` if it could not be started.
    pub(super) fn prepare(words: LastWords) -> bool {
        let helper = HELPER.get_or_init(|| {
            std::thread::Builder::new()
                .name("runner-last-words".into())
                .spawn(serve)
                .ok()
                .map(|handle| handle.thread().clone())
        });
        if helper.is_none() {
            return false;
        }
        *lock(&WORDS) = Some(words);
        true
    }

    pub(super) fn clear() {
        lock(&WORDS).take();
    }

    /// The helper: answers each request with the current last words.
    fn serve() {
        let mut served = 0;
        loop {
            let asked = ASKED.load(Ordering::Acquire);
            if asked == served {
                std::thread::park();
                continue;
            }
            served = asked;
            let words = lock(&WORDS).clone();
            let text = words.map(|words| words());
            *lock(&ANSWER) = Some((served, text));
        }
    }

    /// Asks the helper for the last words and waits at most `limit`.
    pub(super) fn within(limit: Duration) -> Option<String> {
        let helper = HELPER.get()?.as_ref()?;
        let deadline = Instant::now() + limit;
        let request = ASKED.fetch_add(1, Ordering::AcqRel) + 1;
        helper.unpark();
        loop {
            // `try_lock`: the helper holds it for an instant; never wait on it.
            if let Some(mut answer) = try_lock(&ANSWER) {
                if matches!(answer.as_ref(), Some((answered, _)) if *answered == request) {
                    return answer.take().and_then(|(_, text)| text);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn last_words_come_from_the_helper_and_a_stuck_helper_is_not_waited_for() {
            assert!(prepare(Arc::new(|| "stack of the main task".to_owned())));
            assert_eq!(
                within(Duration::from_secs(30)).as_deref(),
                Some("stack of the main task")
            );
            let (_keep, stuck) = std::sync::mpsc::channel::<()>();
            let stuck = Mutex::new(stuck);
            assert!(prepare(Arc::new(move || {
                let _ = lock(&stuck).recv();
                "never".to_owned()
            })));
            assert_eq!(within(Duration::from_millis(20)), None);
            clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_its_byte() {
        for phase in [
            Phase::Idle,
            Phase::Running,
            Phase::Interrupted,
            Phase::Dying,
        ] {
            for armed in 0..4 {
                for last_words in [false, true] {
                    let state = State {
                        phase,
                        armed,
                        last_words,
                    };
                    assert_eq!(State::decode(state.encode()), state);
                }
            }
        }
    }

    #[test]
    fn idle_is_the_zero_byte() {
        assert_eq!(State::IDLE.encode(), 0);
    }

    /// The only test that touches the global state (unit tests run off the
    /// main thread, where no run arms).
    #[test]
    fn presses_follow_the_state_machine() {
        let arm = |last_words| {
            let state = State {
                phase: Phase::Running,
                armed: Signal::Interrupt.bit(),
                last_words,
            };
            STATE.store(state.encode(), Ordering::Release);
        };
        STATE.store(State::IDLE.encode(), Ordering::Release);
        assert_eq!(
            press(Signal::Interrupt, true),
            Press::Kill,
            "idle: the default"
        );
        assert_eq!(press(Signal::Interrupt, false), Press::Theirs);

        arm(false);
        assert_eq!(
            press(Signal::Interrupt, false),
            Press::Theirs,
            "a handler on top"
        );
        assert_eq!(
            State::load().phase,
            Phase::Running,
            "the program's press changes nothing"
        );
        assert_eq!(
            press(Signal::Terminate, true),
            Press::Kill,
            "not handled by this run"
        );
        assert_eq!(press(Signal::Interrupt, true), Press::Handled);
        assert!(State::load().pressed());
        assert_eq!(press(Signal::Interrupt, true), Press::Kill, "second press");

        arm(true);
        assert_eq!(press(Signal::Interrupt, true), Press::Handled);
        assert_eq!(press(Signal::Interrupt, true), Press::KillAfterLastWords);
        assert_eq!(State::load().phase, Phase::Dying);
        assert_eq!(press(Signal::Interrupt, true), Press::Kill, "third press");
        STATE.store(State::IDLE.encode(), Ordering::Release);
    }
}
