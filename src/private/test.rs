//! The body of `#[runner::test]`: a fresh runner per test on a thread of its
//! own, and the real-clock watchdog that fails it when `timeout` expires.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::process::{ExitCode, Termination};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use super::Args;
use crate::shared::DumpSource;
use crate::{Error, Runner};

/// How `#[runner::test]` passes the body: a function pointer (`Send` even
/// when the future is not) that makes the boxed future on the test's thread.
pub type TestBody<T> = fn() -> Pin<Box<dyn Future<Output = T>>>;

/// How many runner-task panics were reported as never retrieved.
pub fn lost_panics(runner: &Runner) -> usize {
    runner.lost_panics()
}

/// The tasks `close` reported still pending (debug mode only), as
/// "`name` spawned at file:line:col".
pub fn left_pending(runner: &Runner) -> Vec<String> {
    runner.left_pending()
}

/// The body of `#[runner::test]`: runs the future `body` makes on a thread
/// of its own (named after the test) with a fresh runner, under a real-clock
/// watchdog when `args.timeout` is set. The attribute's `args` turn debug
/// mode on, signal handling off, and lost panics to `LostPanic::CancelMain`
/// unless the test says otherwise (`unhandled_panic`).
///
/// # Panics
///
/// When the watchdog fires ("test timed out after ..."), when the body
/// panics (the panic is resumed here, so `#[should_panic]` sees it), and when
/// a runner task panicked and nobody retrieved the panic.
#[track_caller]
pub fn test<T: Termination + 'static>(args: Args, body: TestBody<T>) -> ExitCode {
    // The test's own line (the attribute's): the main task's spawn site in
    // reports and dumps.
    let at = Location::caller();
    let (done, finished) = mpsc::channel();
    let (cancel, cancelled) = oneshot::channel();
    let progress = Arc::new(Progress::default());
    let mut worker = thread::Builder::new();
    if let Some(name) = thread::current().name() {
        worker = worker.name(name.to_owned());
    }
    let reported = progress.clone();
    worker
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                run_test(args, body, cancelled, at, &reported)
            }));
            let _ = done.send(result);
        })
        .expect("#[runner::test]: failed to spawn the test's thread");
    let result = match args.timeout {
        Some(timeout) => match finished.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => timed_out(timeout, cancel, &finished, &progress),
            Err(RecvTimeoutError::Disconnected) => unreachable!("the worker always sends"),
        },
        None => finished.recv().expect("the worker always sends"),
    };
    result.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// How long a timed-out test waits for its cancelled body to close, so that
/// what the close reports lands in the test's own output.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// Where the test's thread is, so that a timeout names the phase that ran
/// out of time: the body, or the runner's `close` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The body runs (or is being cancelled).
    Body,
    /// The body ended; `close` runs: it waits up to the shutdown timeout for
    /// blocking work and drops the tasks left.
    Closing,
}

/// What the test's thread tells its watchdog.
#[derive(Debug, Default)]
struct Progress {
    /// Where the watchdog takes a dump of the runner's tasks from.
    tasks: OnceLock<DumpSource>,
    /// Set once, when the body has ended and `close` starts.
    closing: AtomicBool,
    /// Blocking work started through `runner::spawn_blocking` still running
    /// when `close` started.
    blocking: AtomicUsize,
}

impl Progress {
    fn closing(&self, runner: &Runner) {
        let blocking = runner.blocking_running();
        self.blocking.store(blocking, Ordering::Relaxed);
        self.closing.store(true, Ordering::Release);
    }

    fn phase(&self) -> Phase {
        if self.closing.load(Ordering::Acquire) {
            Phase::Closing
        } else {
            Phase::Body
        }
    }

    /// What `close` is waiting for (only meaningful in [`Phase::Closing`]).
    fn close_waits(&self) -> String {
        match self.blocking.load(Ordering::Relaxed) {
            0 => "close is still running (it waits up to the runner's shutdown_timeout for \
                  blocking work, tokio::task::spawn_blocking included, and runs the Drop of \
                  each task left)"
                .to_owned(),
            n => format!(
                "close is waiting for blocking work: {n} task(s) started through \
                 runner::spawn_blocking were still running when the body ended (close waits \
                 up to the runner's shutdown_timeout for them: let the work finish, or set \
                 #[runner::test(shutdown_timeout = ...)])"
            ),
        }
    }
}

/// Fails a test that outlived its timeout, naming the phase that ran out of
/// time. This is the one place that reports a timed-out test: anything more
/// it should print (such as a dump of the runner's tasks) goes here.
fn timed_out<R>(
    timeout: Duration,
    cancel: oneshot::Sender<()>,
    finished: &mpsc::Receiver<R>,
    progress: &Progress,
) -> ! {
    if let Some(tasks) = progress.tasks.get() {
        eprintln!(
            "#[runner::test]: timed out after {timeout:?}; the test's tasks:\n{}",
            tasks.dump()
        );
    }
    let what = match progress.phase() {
        Phase::Closing => format!("the body returned, but {}", progress.close_waits()),
        Phase::Body => {
            // A body that awaits is cancelled at its await point, so its
            // `Drop` cleanup runs and its runner closes; a body that blocks
            // its thread never looks, and cannot be stopped safely.
            let _ = cancel.send(());
            let cancelled = "the body was cancelled at the await point where it was stuck";
            match (finished.recv_timeout(CANCEL_GRACE), progress.phase()) {
                (Ok(_), _) => cancelled.to_owned(),
                (Err(_), Phase::Closing) => format!("{cancelled}, but {}", progress.close_waits()),
                (Err(_), Phase::Body) => "the body blocks its thread, which is left behind".into(),
            }
        }
    };
    panic!("test timed out after {timeout:?} (#[runner::test(timeout = ...)]): {what}")
}

/// The error that ended a test's run, with advice a test can follow: it
/// does not build its runner, its attribute's arguments set it up.
fn explain(err: &Error) -> String {
    match err {
        Error::TaskPanicked {
            task,
            spawned_at,
            message,
        } => format!(
            "task `{task}` spawned at {spawned_at} panicked and nobody can retrieve the \
             panic (its JoinHandle was dropped without being awaited): {message}; the test's \
             body was cancelled. Await the task's JoinHandle to handle its panic, or use \
             #[runner::test(unhandled_panic = \"ignore\")] to only report it and let the body \
             go on (the test still fails after the body returns)"
        ),
        other => other.to_string(),
    }
}

fn run_test<T: Termination>(
    args: Args,
    body: TestBody<T>,
    cancelled: oneshot::Receiver<()>,
    at: &'static Location<'static>,
    progress: &Progress,
) -> ExitCode {
    let mut runner = args.runner();
    let _ = progress.tasks.set(runner.dump_source());
    let main = async move {
        tokio::select! {
            biased;
            _ = cancelled => None,
            // Watched on its own: the watchdog's channel keeps the main
            // task's waker alive, not the body's.
            output = crate::task::watch_main_body(body()) => Some(output),
        }
    };
    let output = runner.run_at(main, None, at);
    progress.closing(&runner);
    runner.close();
    let pending = left_pending(&runner);
    if !pending.is_empty() {
        eprintln!(
            "#[runner::test]: {} task(s) still pending when the test body ended were \
             cancelled:\n  {}",
            pending.len(),
            pending.join("\n  "),
        );
    }
    let output = output.unwrap_or_else(|err| panic!("#[runner::test]: {}", explain(&err)));
    let lost = lost_panics(&runner);
    if lost > 0 {
        panic!(
            "#[runner::test]: {lost} runner task(s) panicked and nobody retrieved the panic \
             (await the task's JoinHandle to handle it); see the panic message(s) above"
        );
    }
    // `None`: timed out; the test's own thread has failed it already.
    output.map_or(ExitCode::FAILURE, Termination::report)
}
