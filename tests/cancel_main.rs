//! `LostPanic::CancelMain`: the first panic nobody can retrieve any more
//! cancels the main task within one turn of the loop, and `run` returns
//! `Error::TaskPanicked` with the task's name, spawn site and message.

mod support;

use std::time::{Duration, Instant};

use runner::{Error, LostPanic, Runner};
use support::Capture;

/// The main task's sleep: a stop must come well before it ends.
const LONG: Duration = Duration::from_secs(30);

fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

fn runner(debug: bool, multi_thread: bool) -> Runner {
    let mut builder = Runner::builder()
        .debug(debug)
        .handle_sigint(false)
        .lost_panic(LostPanic::CancelMain);
    if multi_thread {
        builder = builder.runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        });
    }
    builder.build()
}

/// How a detached task is started.
#[derive(Debug, Clone, Copy)]
enum Spawn {
    Send,
    Local,
    Blocking,
}

/// Runs a main task that detaches a named task panicking with "boom", then
/// sleeps [`LONG`]; returns the run's result, the spawn line and how long the
/// run took.
fn run_with_detached_panic(mut runner: Runner, how: Spawn) -> (Result<(), Error>, u32, Duration) {
    let start = Instant::now();
    let builder = runner::task::Builder::new().name("doomed");
    let mut line = 0;
    let result = runner.run(async {
        let handle = match how {
            Spawn::Send => {
                line = line!() + 1;
                builder.spawn(async { panic!("boom") }).unwrap()
            }
            Spawn::Local => {
                line = line!() + 1;
                builder.spawn_local(async { panic!("boom") }).unwrap()
            }
            Spawn::Blocking => {
                line = line!() + 1;
                builder.spawn_blocking(|| panic!("boom")).unwrap()
            }
        };
        drop(handle);
        tokio::time::sleep(LONG).await;
    });
    (result, line, start.elapsed())
}

fn assert_task_panicked(how: Spawn, multi_thread: bool) {
    quiet_panics();
    for debug in [false, true] {
        let (result, line, took) = run_with_detached_panic(runner(debug, multi_thread), how);
        match result {
            Err(Error::TaskPanicked {
                task,
                spawned_at,
                message,
            }) => {
                assert_eq!(task, "doomed");
                assert_eq!((spawned_at.file(), spawned_at.line()), (file!(), line));
                assert_eq!(message, "boom");
            }
            other => panic!("{how:?}, debug {debug}: expected TaskPanicked, got {other:?}"),
        }
        assert!(
            took < LONG / 2,
            "{how:?}: stopped well before the sleep ended ({took:?})"
        );
    }
}

#[test]
fn a_lost_panic_of_a_spawned_task_cancels_main_on_the_current_thread_loop() {
    assert_task_panicked(Spawn::Send, false);
}

#[test]
fn a_lost_panic_of_a_local_task_cancels_main_on_the_current_thread_loop() {
    assert_task_panicked(Spawn::Local, false);
}

#[test]
fn a_lost_panic_of_blocking_work_cancels_main_on_the_current_thread_loop() {
    assert_task_panicked(Spawn::Blocking, false);
}

#[test]
fn a_lost_panic_of_a_spawned_task_cancels_main_on_a_multi_thread_runtime() {
    assert_task_panicked(Spawn::Send, true);
}

#[test]
fn a_lost_panic_of_a_local_task_cancels_main_on_a_multi_thread_runtime() {
    assert_task_panicked(Spawn::Local, true);
}

#[test]
fn a_lost_panic_of_blocking_work_cancels_main_on_a_multi_thread_runtime() {
    assert_task_panicked(Spawn::Blocking, true);
}

#[test]
fn the_main_tasks_cleanup_runs_when_it_is_cancelled() {
    quiet_panics();
    let (guard, dropped) = DropFlag::new();
    let result = runner(false, false).run(async move {
        let _guard = guard;
        drop(runner::spawn(async { panic!("boom") }));
        tokio::time::sleep(LONG).await;
    });
    assert!(matches!(result, Err(Error::TaskPanicked { .. })));
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn a_handle_kept_and_awaited_later_never_cancels_main() {
    quiet_panics();
    let mut runner = runner(true, false);
    let result = runner.run(async {
        let handle = runner::spawn(async { panic!("kept") });
        while !handle.is_finished() {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        handle.await.unwrap_err().is_panic()
    });
    assert!(result.unwrap());
}

#[test]
fn a_stop_ends_only_the_run_in_progress() {
    quiet_panics();
    let mut runner = runner(false, false);
    let first = runner.run(async {
        drop(runner::spawn(async { panic!("first") }));
        tokio::time::sleep(LONG).await;
    });
    assert!(matches!(first, Err(Error::TaskPanicked { .. })));
    assert_eq!(runner.run(async { 1 }).unwrap(), 1);
}

/// Run 1 leaves behind the handle of a task that panicked; it is dropped
/// unread between the runs, so the panic is lost while no run is active.
fn panic_lost_between_runs(multi_thread: bool) {
    quiet_panics();
    let capture = Capture::new();
    let mut runner = runner(false, multi_thread);
    let handle = runner
        .run(async {
            let handle = runner::task::Builder::new()
                .name("leftover")
                .spawn(async { panic!("lost between the runs") })
                .unwrap();
            while !handle.is_finished() {
                tokio::task::yield_now().await;
            }
            Some(handle)
        })
        .unwrap();
    capture.during(|| drop(handle));
    let reports = capture.reports_containing("lost between the runs");
    assert_eq!(
        reports.len(),
        1,
        "the panic is still reported: {reports:#?}"
    );
    let mut polled = false;
    let second = runner.run(async {
        polled = true;
        2
    });
    assert_eq!(second.unwrap(), 2, "the next run starts afresh");
    assert!(polled);
}

#[test]
fn a_panic_lost_while_no_run_is_active_does_not_end_the_next_run() {
    panic_lost_between_runs(false);
}

#[test]
fn a_panic_lost_while_no_run_is_active_does_not_end_the_next_run_on_a_multi_thread_runtime() {
    panic_lost_between_runs(true);
}

#[test]
fn report_keeps_running_after_a_lost_panic() {
    quiet_panics();
    let mut runner = Runner::builder().handle_sigint(false).build();
    let result = runner.run(async {
        drop(runner::spawn(async { panic!("reported only") }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        "finished"
    });
    assert_eq!(result.unwrap(), "finished");
}

struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl DropFlag {
    fn new() -> (DropFlag, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
