//! Support for the code `#[runner::main]` and `#[runner::test]` generate.
//! Not public API: no stability promise.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::process::{ExitCode, Termination};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::dump::DumpSource;
use crate::{Error, LostPanic, Runner};

/// Tokio's runtime builder, named by the `start_paused` code the attributes
/// generate (never through the user's own `tokio`).
pub use tokio::runtime::Builder as RuntimeBuilder;

/// How many runner-task panics were reported as never retrieved (counted in
/// debug mode only).
pub fn lost_panics(runner: &Runner) -> usize {
    runner.lost_panics()
}

/// The tasks `close` reported still pending (debug mode only), as
/// "`name` spawned at file:line:col".
pub fn left_pending(runner: &Runner) -> Vec<String> {
    runner.left_pending()
}

/// Makes `start_paused = true` without Tokio's `test-util` feature a clear
/// compile error. The generated code calls `builder.start_paused(true)` with
/// this trait in scope: Tokio's inherent method wins when it exists; when it
/// does not, this method is chosen and `bool: NeedsTokioTestUtil` fails with
/// the message below, at the argument's span.
pub trait StartPausedFallback {
    /// Never callable: no type implements [`NeedsTokioTestUtil`].
    fn start_paused<P: NeedsTokioTestUtil>(&mut self, on: P) -> &mut Self;
}

impl StartPausedFallback for RuntimeBuilder {
    fn start_paused<P: NeedsTokioTestUtil>(&mut self, _: P) -> &mut Self {
        self
    }
}

/// Implemented by nothing; see [`StartPausedFallback`].
#[diagnostic::on_unimplemented(
    message = "`start_paused = true` needs Tokio's `test-util` feature",
    label = "Tokio's clock can only be paused with its `test-util` feature",
    note = "add `tokio = {{ version = \"1\", features = [\"test-util\"] }}` to your \
            `[dev-dependencies]` (or `[dependencies]`), as `#[tokio::test(start_paused = true)]` needs too"
)]
pub trait NeedsTokioTestUtil {}

/// How `#[runner::test]` passes the body: a function pointer (`Send` even
/// when the future is not) that makes the boxed future on the test's thread.
pub type TestBody<T> = fn() -> Pin<Box<dyn Future<Output = T>>>;

/// The runtime flavour, as `#[tokio::main]` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// One thread: the one that calls `run`.
    CurrentThread,
    /// Tokio's worker pool under the loop; the main task stays on the caller.
    MultiThread,
}

/// What `#[runner::main]` and `#[runner::test]` were given; the generated
/// code writes only the fields the attribute set, the rest come from
/// [`Args::MAIN`] or [`Args::TEST`].
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// Which Tokio runtime runs under the loop.
    pub flavor: Flavor,
    /// `worker_threads` (multi-thread only).
    pub worker_threads: Option<usize>,
    /// Set when `start_paused = true`: pauses the clock. Written by the
    /// generated code, so that it compiles only when the Tokio that the user's
    /// crate links has its `test-util` feature.
    pub start_paused: Option<fn(&mut RuntimeBuilder)>,
    /// The runtime's name.
    pub name: Option<&'static str>,
    /// Debug mode; `None` follows `RUNNER_DEBUG`.
    pub debug: Option<bool>,
    /// `Builder::shutdown_timeout`.
    pub shutdown_timeout: Option<Duration>,
    /// `Builder::interrupt_grace`.
    pub interrupt_grace: Option<Duration>,
    /// `Builder::handle_sigint`.
    pub handle_sigint: Option<bool>,
    /// `Builder::handle_sigterm`.
    pub handle_sigterm: Option<bool>,
    /// The test watchdog's limit, on the real clock.
    pub timeout: Option<Duration>,
    /// `Builder::lost_panic`.
    pub lost_panic: Option<LostPanic>,
}

impl Args {
    /// `#[runner::main]`'s defaults: those of [`Builder`](crate::Builder).
    pub const MAIN: Args = Args {
        flavor: Flavor::CurrentThread,
        worker_threads: None,
        start_paused: None,
        name: None,
        debug: None,
        shutdown_timeout: None,
        interrupt_grace: None,
        handle_sigint: None,
        handle_sigterm: None,
        timeout: None,
        lost_panic: None,
    };

    /// `#[runner::test]`'s defaults: debug mode on, no signal handling, a
    /// lost panic fails the test at once.
    pub const TEST: Args = Args {
        debug: Some(true),
        lost_panic: Some(LostPanic::CancelMain),
        handle_sigint: Some(false),
        handle_sigterm: Some(false),
        ..Args::MAIN
    };

    fn runner(&self) -> Runner {
        let mut builder = crate::Builder::new();
        if let Some(on) = self.debug {
            builder = builder.debug(on);
        }
        if let Some(timeout) = self.shutdown_timeout {
            builder = builder.shutdown_timeout(timeout);
        }
        if let Some(grace) = self.interrupt_grace {
            builder = builder.interrupt_grace(grace);
        }
        if let Some(on) = self.handle_sigint {
            builder = builder.handle_sigint(on);
        }
        if let Some(on) = self.handle_sigterm {
            builder = builder.handle_sigterm(on);
        }
        if let Some(policy) = self.lost_panic {
            builder = builder.lost_panic(policy);
        }
        let args = *self;
        builder
            .runtime(move || {
                let mut rt = match args.flavor {
                    Flavor::CurrentThread => RuntimeBuilder::new_current_thread(),
                    Flavor::MultiThread => RuntimeBuilder::new_multi_thread(),
                };
                rt.enable_all();
                if let Some(n) = args.worker_threads {
                    rt.worker_threads(n);
                }
                if let Some(name) = args.name {
                    rt.name(name);
                }
                if let Some(pause) = args.start_paused {
                    pause(&mut rt);
                }
                rt.build()
            })
            .build()
    }
}

/// The body of `#[runner::main]`: runs `body` as the main task of a runner
/// built from `args` and returns its output. Ctrl-C (`Error::Interrupted`)
/// exits with status 130, after the runner closed; any other error panics.
#[track_caller]
pub fn main<F: Future>(args: Args, body: F) -> F::Output {
    let mut runner = args.runner();
    let result = runner.run(body);
    // Closed before a possible `exit`, which would skip it: leftover tasks
    // are cancelled and their cleanup runs on Ctrl-C too.
    runner.close();
    match result {
        Ok(output) => output,
        Err(Error::Interrupted) => std::process::exit(130),
        Err(err) => panic!("#[runner::main]: {err}"),
    }
}

/// The body of `#[runner::test]`: runs the future `body` makes on a thread
/// of its own (named after the test) with a fresh runner, under a real-clock
/// watchdog when `args.timeout` is set.
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
    let source = Arc::new(OnceLock::new());
    let source_in_test = source.clone();
    let (done, finished) = mpsc::channel();
    let (cancel, cancelled) = oneshot::channel();
    let mut worker = thread::Builder::new();
    if let Some(name) = thread::current().name() {
        worker = worker.name(name.to_owned());
    }
    worker
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                run_test(args, body, cancelled, at, &source_in_test)
            }));
            let _ = done.send(result);
        })
        .expect("#[runner::test]: failed to spawn the test's thread");
    let result = match args.timeout {
        Some(timeout) => match finished.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(source) = source.get() {
                    eprintln!(
                        "#[runner::test]: timed out after {timeout:?}; the test's tasks:\n{}",
                        source.dump()
                    );
                }
                timed_out(timeout, cancel, &finished)
            }
            Err(RecvTimeoutError::Disconnected) => unreachable!("the worker always sends"),
        },
        None => finished.recv().expect("the worker always sends"),
    };
    result.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// How long a timed-out test waits for its cancelled body to close, so that
/// what the close reports lands in the test's own output.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// Fails a test whose body outlived its timeout.
fn timed_out<R>(timeout: Duration, cancel: oneshot::Sender<()>, finished: &mpsc::Receiver<R>) -> ! {
    // A body that awaits is cancelled at its await point, so its `Drop`
    // cleanup runs and its runner closes; a body that blocks its thread never
    // looks, and cannot be stopped safely.
    let _ = cancel.send(());
    let what = match finished.recv_timeout(CANCEL_GRACE) {
        Ok(_) => "the body was cancelled at the await point where it was stuck",
        Err(_) => "the body blocks its thread, which is left behind",
    };
    panic!("test timed out after {timeout:?} (#[runner::test(timeout = ...)]): {what}")
}

fn run_test<T: Termination>(
    args: Args,
    body: TestBody<T>,
    cancelled: oneshot::Receiver<()>,
    at: &'static Location<'static>,
    source: &OnceLock<DumpSource>,
) -> ExitCode {
    let mut runner = args.runner();
    let _ = source.set(runner.dump_source());
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
    let output = output.unwrap_or_else(|err| panic!("#[runner::test]: {err}"));
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
