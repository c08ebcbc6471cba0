//! The Unix glue: the signal handler and everything it calls (for SIGINT,
//! SIGTERM and, in debug mode, SIGQUIT), the watcher thread, and the
//! disposition queries, through POSIX calls only
//! (`sigaction`, `pipe`, `fcntl`, `read`, `write`, `raise`). The one query
//! that differs per OS (is this the main thread?) and the location of
//! `errno` are in [`os`]; an OS without a known main-thread query takes no
//! signals.

use std::sync::atomic::{AtomicI32, Ordering};

use super::{Press, Signal};

/// The pipe's write end, -1 until the watcher exists.
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// The byte that asks the watcher to wake the loop; any other byte but
/// [`DUMP`] is the number of a signal to die of after the last words.
const WAKE: u8 = 0;
/// The byte that asks the watcher to print SIGQUIT's dumps (no signal has
/// this number).
const DUMP: u8 = u8::MAX;

fn raw(signal: Signal) -> libc::c_int {
    match signal {
        Signal::Interrupt => libc::SIGINT,
        Signal::Terminate => libc::SIGTERM,
    }
}

fn from_raw(sig: libc::c_int) -> Option<Signal> {
    match sig {
        libc::SIGINT => Some(Signal::Interrupt),
        libc::SIGTERM => Some(Signal::Terminate),
        _ => None,
    }
}

/// Installs our handler for `signal` if it is at its default disposition
/// (and the watcher could be started). Once per process and signal.
pub(super) fn install(signal: Signal) -> bool {
    let sig = raw(signal);
    if disposition(sig) != libc::SIG_DFL || !start_watcher() {
        return false;
    }
    set_disposition(sig, ours());
    true
}

/// Installs our handler for SIGQUIT if it is at its default disposition
/// (and the watcher could be started).
pub(super) fn install_quit() -> bool {
    if disposition(libc::SIGQUIT) != libc::SIG_DFL || !start_watcher() {
        return false;
    }
    set_disposition(libc::SIGQUIT, ours());
    true
}

/// Gives SIGQUIT back to its default, unless a handler was installed over
/// ours (then it stays the program's).
pub(super) fn give_back_quit() {
    if disposition(libc::SIGQUIT) == ours() {
        set_disposition(libc::SIGQUIT, libc::SIG_DFL);
    }
}

pub(super) use os::is_main_thread;

fn ours() -> libc::sighandler_t {
    handler as extern "C" fn(libc::c_int) as libc::sighandler_t
}

extern "C" fn handler(sig: libc::c_int) {
    let saved_errno = errno();
    if sig == libc::SIGQUIT {
        // Ours unless a handler was installed over it (then it is theirs).
        if disposition(sig) == ours() {
            if super::quit::armed() {
                notify(DUMP);
            } else {
                die_of(sig);
            }
        }
    } else if let Some(signal) = from_raw(sig) {
        // Ours unless a handler was installed over it, which then called us
        // through its chain: the press is that handler's owner's.
        let now = disposition(sig);
        let ours = now == ours() || now == libc::SIG_DFL;
        match super::press(signal, ours) {
            Press::Theirs => {}
            Press::Handled => notify(WAKE),
            Press::Kill => die_of(sig),
            // Signal numbers fit a byte (SIGINT 2, SIGTERM 15).
            Press::KillAfterLastWords => notify(sig as u8),
        }
    }
    os::set_errno(saved_errno);
}

/// Sends the watcher one byte. Async-signal-safe.
fn notify(byte: u8) {
    let fd = PIPE.load(Ordering::Acquire);
    let buf = [byte];
    // SAFETY: write(2) is async-signal-safe; `fd` is the pipe's write end,
    // non-blocking and never closed (the handler is only installed once the
    // pipe exists), and `buf` is a live one-byte buffer. A full pipe (EAGAIN)
    // already holds wake-ups; a kill request is then lost only if 64 KiB of
    // wake-ups are pending, which one wake per run cannot reach.
    unsafe { libc::write(fd, buf.as_ptr().cast(), 1) };
}

/// Restores the default action and re-raises `sig`: the process dies of it
/// (in a handler, as soon as it returns: the signal is blocked until then).
/// Async-signal-safe.
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
    // SAFETY: `new` is a fully initialised action whose handler is SIG_DFL,
    // SIG_IGN or `handler`, an `extern "C" fn(c_int)`; the old action is not
    // wanted.
    unsafe { libc::sigaction(sig, &new, std::ptr::null_mut()) };
}

fn errno() -> libc::c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Starts the watcher thread and its pipe once per process. `false` if that
/// failed (then no run takes the signals).
fn start_watcher() -> bool {
    static STARTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return false;
        }
        let [read_end, write_end] = fds;
        // Not inherited by programs this process executes. (Another thread
        // forking in between could inherit them: pipe2 would close that
        // window, but it is not POSIX before 2024, and this runs once.)
        for fd in fds {
            // SAFETY: fcntl on a descriptor we own.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        // The write end never blocks the handler; the read end blocks: the
        // watcher sleeps in read(2).
        // SAFETY: fcntl on a descriptor we own.
        let flags = unsafe { libc::fcntl(write_end, libc::F_GETFL) };
        // SAFETY: fcntl on a descriptor we own, with flags it returned.
        let rc = unsafe { libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        if flags < 0 || rc != 0 {
            return false;
        }
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

/// The watcher: one wake-up per wake byte, a kill (after the last words)
/// per signal byte.
fn watch(read_end: libc::c_int) {
    let mut buf = [0u8; 16];
    loop {
        // SAFETY: `buf` is valid for writes of its length; `read_end` is ours
        // and stays open for the life of the process.
        let n = unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        let Ok(n @ 1..) = usize::try_from(n) else {
            return;
        };
        let mut woken = false;
        for &byte in &buf[..n] {
            match byte {
                WAKE => woken = true,
                DUMP => super::quit::print(),
                sig => {
                    super::say_last_words();
                    die_of(libc::c_int::from(sig));
                }
            }
        }
        if woken {
            super::wake_up();
        }
    }
}

/// Writes `text` to stderr with write(2): no lock, unlike `std::io::stderr`.
pub(super) fn write_stderr(mut text: &[u8]) {
    while !text.is_empty() {
        // SAFETY: `text` is valid for reads of its length; fd 2 may be
        // closed, which write(2) reports as an error.
        let n = unsafe { libc::write(2, text.as_ptr().cast(), text.len()) };
        match usize::try_from(n) {
            Ok(n @ 1..) => text = &text[n..],
            _ if n < 0 && errno() == libc::EINTR => {}
            _ => return,
        }
    }
}

/// What differs per OS: the main-thread query and `errno`'s location.
mod os {
    /// Whether this is the process's main thread (signal handling is its
    /// job, as in Python), asked once per thread.
    pub(in super::super) fn is_main_thread() -> bool {
        thread_local! {
            static IS_MAIN: bool = query();
        }
        IS_MAIN.with(|is_main| *is_main)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn query() -> bool {
        // SAFETY: getpid and gettid take no arguments and cannot fail.
        unsafe { libc::getpid() == libc::gettid() }
    }

    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd"
    ))]
    fn query() -> bool {
        // SAFETY: pthread_main_np takes no arguments and cannot fail.
        unsafe { libc::pthread_main_np() != 0 }
    }

    /// No known query (NetBSD, illumos, AIX, ...): no run takes signals.
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd"
    )))]
    fn query() -> bool {
        false
    }

    /// Restores `errno` after the handler (a handler must not change it).
    pub(in super::super) fn set_errno(value: libc::c_int) {
        if let Some(errno) = location() {
            // SAFETY: errno's location is thread-local and always valid.
            unsafe { *errno = value };
        }
    }

    /// No known `errno` location: the handler is never installed here (no
    /// main-thread query either), so there is nothing to restore.
    #[cfg(not(any(
        target_os = "linux",
        target_os = "dragonfly",
        target_os = "redox",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "android",
        target_os = "openbsd",
        target_os = "netbsd"
    )))]
    fn location() -> Option<*mut libc::c_int> {
        None
    }

    #[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "redox"))]
    fn location() -> Option<*mut libc::c_int> {
        // SAFETY: no preconditions; returns this thread's errno.
        Some(unsafe { libc::__errno_location() })
    }

    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    fn location() -> Option<*mut libc::c_int> {
        // SAFETY: no preconditions; returns this thread's errno.
        Some(unsafe { libc::__error() })
    }

    #[cfg(any(target_os = "android", target_os = "openbsd", target_os = "netbsd"))]
    fn location() -> Option<*mut libc::c_int> {
        // SAFETY: no preconditions; returns this thread's errno.
        Some(unsafe { libc::__errno() })
    }
}
