//! Ctrl-C (SIGINT) and, opt-in, SIGTERM: asyncio's protocol, made safe for a
//! library. The only module with `unsafe`.
//!
//! While a runner runs on the main thread and the signal is at its default
//! disposition, a handler of ours is installed with `sigaction`; when the run
//! ends it is put back to the default, unless someone installed a handler on
//! top of ours meanwhile (Tokio's `signal` module, through
//! `signal-hook-registry`, chains to the handler it found): then we leave
//! theirs in place, and ours, still called through their chain, does
//! nothing. So Ctrl-C behaves outside a run exactly as it would without the
//! runner, and listeners created during a run keep working after it.
//!
//! The handler only touches atomics and writes one byte to a pipe (both
//! async-signal-safe). A watcher thread, started once per process on first
//! use, turns the byte into wake-ups. A press while the run is already
//! interrupted (the second press) restores the default disposition and
//! re-raises the signal from inside the handler, so the process dies even if
//! the loop is stuck and never polls again.
#![deny(unsafe_op_in_unsafe_fn)]

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::sync::Notify;

use crate::Error;

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

/// No run owns the signals.
const IDLE: u8 = 0;
/// A run owns them and has not been interrupted.
const RUNNING: u8 = 1;
/// The first press arrived; the next one kills.
const INTERRUPTED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(IDLE);
/// The runner whose run owns the signals (see `shared::id`), 0 if none.
static OWNER: AtomicUsize = AtomicUsize::new(0);
/// The main task's waker.
static MAIN: AtomicWaker = AtomicWaker::new();
/// Every `interrupted()` waiter.
static WAITERS: Notify = Notify::const_new();

/// Completes at the first Ctrl-C (or SIGTERM, when handled) that the running
/// runner handles.
///
/// Awaitable from any task of the runner: the main task, tasks spawned with
/// [`spawn`](crate::spawn) / [`spawn_local`](crate::spawn_local), and raw
/// Tokio tasks polled on the runner's own thread. It never completes when
/// the runner does not own the signal: off the main thread, with
/// [`handle_sigint(false)`](crate::Builder::handle_sigint), or when SIGINT was
/// ignored or already had a handler when `run` started; nor in another
/// runner's tasks. Useful with
/// [`Builder::interrupt_grace`](crate::Builder::interrupt_grace), to finish
/// work in an orderly way before the main task is cancelled.
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
        if STATE.load(Ordering::Acquire) == INTERRUPTED
            && OWNER.load(Ordering::Acquire) == crate::current::runner_id()
        {
            return;
        }
        notified.await;
    }
}

/// The signals one run installed; restores them when dropped.
#[derive(Debug)]
pub(crate) struct Interrupts {
    installed: [Option<libc::c_int>; 2],
    grace: Duration,
    /// Belongs to the main thread.
    _not_send: PhantomData<*const ()>,
}

impl Interrupts {
    /// Takes over the configured signals if this is the main thread and they
    /// are at their default disposition. `None` if nothing was taken.
    pub(crate) fn install(config: SignalConfig, owner: usize) -> Option<Interrupts> {
        if !(config.sigint || config.sigterm) || !sys::is_main_thread() {
            return None;
        }
        let wanted = [
            config.sigint.then_some(libc::SIGINT),
            config.sigterm.then_some(libc::SIGTERM),
        ];
        let mut installed = [None, None];
        for (slot, sig) in installed.iter_mut().zip(wanted) {
            if let Some(sig) = sig {
                // Ready before the handler can run.
                OWNER.store(owner, Ordering::Release);
                STATE.store(RUNNING, Ordering::Release);
                if sys::take_over(sig) {
                    *slot = Some(sig);
                }
            }
        }
        if installed.iter().all(Option::is_none) {
            OWNER.store(0, Ordering::Release);
            STATE.store(IDLE, Ordering::Release);
            return None;
        }
        Some(Interrupts {
            installed,
            grace: config.grace,
            _not_send: PhantomData,
        })
    }

    /// Runs the main task until it completes or a handled signal cancels it
    /// (after the grace period, if any), then gives the signals back.
    ///
    /// A press that lands while the main task is in its last poll, or in the
    /// instant before the signals are given back, is not lost: without a
    /// grace period `run` reports it as `Interrupted` (asyncio turns it into
    /// `KeyboardInterrupt` the same way), and from the moment the default
    /// disposition is back a press acts as the default does.
    pub(crate) async fn guard<F: Future>(
        &mut self,
        mut main: Pin<&mut F>,
    ) -> Result<F::Output, Error> {
        let result = tokio::select! {
            biased;
            output = main.as_mut() => Ok(output),
            () = pressed() => Err(Error::Interrupted),
        };
        let result = match result {
            Err(_) if !self.grace.is_zero() => tokio::time::timeout(self.grace, main)
                .await
                .map_err(|_| Error::Interrupted),
            result => result,
        };
        let pressed = self.uninstall();
        match result {
            Ok(_) if pressed && self.grace.is_zero() => Err(Error::Interrupted),
            result => result,
        }
    }

    /// Gives the signals back (the default disposition, unless someone
    /// installed a handler over ours) and returns whether a press arrived
    /// during the run. Idempotent: only the first call touches anything.
    fn uninstall(&mut self) -> bool {
        if self.installed.iter().all(Option::is_none) {
            return false;
        }
        for sig in self.installed.iter_mut().filter_map(Option::take) {
            sys::give_back(sig);
        }
        OWNER.store(0, Ordering::Release);
        STATE.swap(IDLE, Ordering::AcqRel) == INTERRUPTED
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.uninstall();
    }
}

/// Completes once the run was interrupted.
fn pressed() -> impl Future<Output = ()> {
    poll_fn(|cx| {
        MAIN.register(cx.waker());
        if STATE.load(Ordering::Acquire) == INTERRUPTED {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// The operating system's side: the handler and everything it calls, the
/// watcher thread, and the disposition queries. Linux only for now (the
/// main-thread test, `pipe2` and `errno` are Linux calls); elsewhere the
/// fallback below takes no signals, so `run` leaves Ctrl-C to the default.
/// `--cfg runner_no_signals` selects the fallback on Linux too, which is how
/// its build is checked.
#[cfg(all(target_os = "linux", not(runner_no_signals)))]
mod sys {
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::{INTERRUPTED, MAIN, RUNNING, STATE, WAITERS};

    /// The pipe's write end, -1 until the watcher exists.
    static PIPE: AtomicI32 = AtomicI32::new(-1);

    /// Installs our handler for `sig` if `sig` is at its default
    /// disposition (and the watcher could be started).
    pub(super) fn take_over(sig: libc::c_int) -> bool {
        if disposition(sig) != libc::SIG_DFL || !start_watcher() {
            return false;
        }
        set_disposition(sig, ours());
        true
    }

    /// Puts the default disposition back, unless someone installed a
    /// handler over ours (which then chains to ours, idle from now on).
    pub(super) fn give_back(sig: libc::c_int) {
        if disposition(sig) == ours() {
            set_disposition(sig, libc::SIG_DFL);
        }
    }

    fn ours() -> libc::sighandler_t {
        handler as extern "C" fn(libc::c_int) as libc::sighandler_t
    }

    extern "C" fn handler(sig: libc::c_int) {
        let saved_errno = errno();
        match STATE.compare_exchange(RUNNING, INTERRUPTED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let fd = PIPE.load(Ordering::Acquire);
                // SAFETY: write(2) is async-signal-safe; `fd` is the pipe's write
                // end, non-blocking and never closed, and the buffer is a live
                // one-byte static. A full pipe (EAGAIN) already holds a wake-up.
                unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
            }
            Err(INTERRUPTED) => die_of(sig),
            Err(_) => {
                // Idle: reached either because our handler was the installed one
                // when the signal arrived (a press in the instant the run ends,
                // racing `uninstall`: act as the default would), or through
                // another handler's chain (its owner handles the signal: do
                // nothing).
                let now = disposition(sig);
                if now == ours() || now == libc::SIG_DFL {
                    die_of(sig);
                }
            }
        }
        set_errno(saved_errno);
    }

    /// Restores the default action and re-raises `sig`: the process dies of it
    /// as soon as the handler returns (the signal is blocked until then).
    fn die_of(sig: libc::c_int) {
        set_disposition(sig, libc::SIG_DFL);
        // SAFETY: raise(3) is async-signal-safe and takes any signal number.
        unsafe { libc::raise(sig) };
    }

    /// The current handler of `sig` (`SIG_DFL`, `SIG_IGN` or a function
    /// address). Async-signal-safe.
    fn disposition(sig: libc::c_int) -> libc::sighandler_t {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null new action only queries; `old` is valid for writes and
        // zero-initialised, which is a valid `sigaction`.
        let rc = unsafe { libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()) };
        if rc != 0 {
            return libc::SIG_IGN;
        }
        // SAFETY: sigaction succeeded and filled `old` (it was valid even before).
        unsafe { old.assume_init() }.sa_sigaction
    }

    /// Sets `sig`'s handler (restarting interrupted system calls).
    /// Async-signal-safe.
    fn set_disposition(sig: libc::c_int, action: libc::sighandler_t) {
        // SAFETY: an all-zero `sigaction` is valid (empty mask, no flags).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = action;
        new.sa_flags = libc::SA_RESTART;
        // SAFETY: `new` is a fully initialised action whose handler is
        // SIG_DFL, SIG_IGN or `handler`, an `extern "C" fn(c_int)`; the old
        // action is not wanted.
        unsafe { libc::sigaction(sig, &new, std::ptr::null_mut()) };
    }

    fn errno() -> libc::c_int {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn set_errno(value: libc::c_int) {
        // SAFETY: errno's location is thread-local and always valid.
        unsafe { *libc::__errno_location() = value };
    }

    /// Starts the watcher thread and its pipe once per process. `false` if that
    /// failed (then the run does not take the signals).
    fn start_watcher() -> bool {
        static STARTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *STARTED.get_or_init(|| {
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
                return false;
            }
            let [read_end, write_end] = fds;
            // The read end blocks: the watcher sleeps in read(2).
            // SAFETY: fcntl on a descriptor we own.
            unsafe { libc::fcntl(read_end, libc::F_SETFL, 0) };
            let spawned = std::thread::Builder::new()
                .name("runner-signals".into())
                .spawn(move || watch(read_end));
            if spawned.is_err() {
                return false;
            }
            PIPE.store(write_end, Ordering::Release);
            true
        })
    }

    /// The watcher: one wake-up per byte the handler wrote.
    fn watch(read_end: libc::c_int) {
        let mut buf = [0u8; 16];
        loop {
            // SAFETY: `buf` is valid for writes of its length; `read_end` is
            // ours and stays open for the life of the process.
            let n = unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                return;
            }
            MAIN.wake();
            WAITERS.notify_waiters();
        }
    }

    /// Whether this is the process's main thread (signal handling is its job,
    /// as in Python).
    pub(super) fn is_main_thread() -> bool {
        thread_local! {
            // Asked once per thread: the two system calls would otherwise be a
            // third of a warm run's cost.
            static IS_MAIN: bool = {
                // SAFETY: getpid and gettid take no arguments and cannot fail.
                unsafe { libc::getpid() == libc::gettid() }
            };
        }
        IS_MAIN.with(|is_main| *is_main)
    }
}

/// No signal handling: see the Linux `sys` above.
#[cfg(not(all(target_os = "linux", not(runner_no_signals))))]
mod sys {
    pub(super) fn is_main_thread() -> bool {
        false
    }

    pub(super) fn take_over(_sig: libc::c_int) -> bool {
        false
    }

    pub(super) fn give_back(_sig: libc::c_int) {}
}
