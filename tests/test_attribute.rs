//! What `#[runner::test]` adds to `#[tokio::test]`, checked at run time:
//! the watchdog, the unobserved-panic failure, paused clocks, and that it is
//! a fresh debug-mode runner per test.
//!
//! Tests that must fail are `#[ignore]`d `#[should_panic]` functions, called
//! directly by a checking test that measures and reads the failure (so
//! `cargo test -- --ignored` passes them too; `returns_err` cannot carry
//! `#[should_panic]`, as it returns a value, and fails there by design).

use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Runs `test` (a test function) and returns its panic message.
fn failure_of(test: fn()) -> String {
    let payload = panic::catch_unwind(test).expect_err("the test should have failed");
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// The watchdog's margin: it fires on the real clock, not much after the limit.
const MARGIN: Duration = Duration::from_secs(2);

#[runner::test(timeout = "250ms")]
#[ignore = "fails by design; checked by `timeout_fails_a_body_that_blocks_its_thread`"]
#[should_panic(expected = "timed out")]
async fn blocks_its_thread() {
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn timeout_fails_a_body_that_blocks_its_thread() {
    let start = Instant::now();
    let msg = failure_of(blocks_its_thread);
    let took = start.elapsed();
    assert!(msg.contains("test timed out after 250ms"), "{msg}");
    assert!(msg.contains("blocks its thread"), "{msg}");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_millis(250) + MARGIN, "{took:?}");
}

static NEVER_FINISHES_CLEANED_UP: AtomicBool = AtomicBool::new(false);

struct SetOnDrop(&'static AtomicBool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[runner::test(timeout = "250ms")]
#[ignore = "fails by design; checked by `timeout_cancels_a_body_that_never_finishes`"]
#[should_panic(expected = "timed out")]
async fn never_finishes() {
    let _cleanup = SetOnDrop(&NEVER_FINISHES_CLEANED_UP);
    // A wait that something could still end (`std::future::pending()` could
    // not: that is a lost waker, which fails the test at once).
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _ = rx.await;
}

#[test]
fn timeout_cancels_a_body_that_never_finishes() {
    let start = Instant::now();
    let msg = failure_of(never_finishes);
    let took = start.elapsed();
    assert!(msg.contains("test timed out after 250ms"), "{msg}");
    assert!(msg.contains("cancelled at the await point"), "{msg}");
    assert!(took < Duration::from_millis(250) + MARGIN, "{took:?}");
    assert!(
        NEVER_FINISHES_CLEANED_UP.load(Ordering::SeqCst),
        "its Drop cleanup ran"
    );
}

/// Holds `runner::spawn_blocking` work until a checking test opens it, so
/// that the work is provably still running when the watchdog fires.
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    const fn new() -> Self {
        Gate {
            open: Mutex::new(false),
            opened: Condvar::new(),
        }
    }

    fn wait(&self) {
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Starts blocking work that runs until `gate` opens, and returns once it runs.
async fn start_blocking_work(gate: &'static Gate) {
    let (started, running) = tokio::sync::oneshot::channel();
    drop(runner::spawn_blocking(move || {
        let _ = started.send(());
        gate.wait();
    }));
    running.await.unwrap();
}

static RETURNS_WHILE_BLOCKING_WORK_RUNS: Gate = Gate::new();

#[runner::test(timeout = "250ms")]
#[ignore = "fails by design; checked by `timeout_in_close_blames_the_blocking_work_not_the_body`"]
#[should_panic(expected = "timed out")]
async fn returns_while_blocking_work_runs() {
    start_blocking_work(&RETURNS_WHILE_BLOCKING_WORK_RUNS).await;
}

#[test]
fn timeout_in_close_blames_the_blocking_work_not_the_body() {
    let start = Instant::now();
    let msg = failure_of(returns_while_blocking_work_runs);
    let took = start.elapsed();
    RETURNS_WHILE_BLOCKING_WORK_RUNS.open();
    assert!(msg.contains("test timed out after 250ms"), "{msg}");
    assert!(msg.contains("the body returned"), "{msg}");
    assert!(
        msg.contains(
            "close is waiting for blocking work: 1 task(s) started through runner::spawn_blocking"
        ),
        "{msg}"
    );
    assert!(!msg.contains("blocks its thread"), "{msg}");
    assert!(took < Duration::from_millis(250) + MARGIN, "{took:?}");
}

static STUCK_WHILE_BLOCKING_WORK_RUNS: Gate = Gate::new();

#[runner::test(timeout = "250ms")]
#[ignore = "fails by design; checked by `timeout_names_both_a_cancelled_body_and_a_slow_close`"]
#[should_panic(expected = "timed out")]
async fn stuck_while_blocking_work_runs() {
    start_blocking_work(&STUCK_WHILE_BLOCKING_WORK_RUNS).await;
    // A wait that something could still end (not a lost waker).
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _ = rx.await;
}

#[test]
fn timeout_names_both_a_cancelled_body_and_a_slow_close() {
    let msg = failure_of(stuck_while_blocking_work_runs);
    STUCK_WHILE_BLOCKING_WORK_RUNS.open();
    assert!(msg.contains("test timed out after 250ms"), "{msg}");
    assert!(msg.contains("cancelled at the await point"), "{msg}");
    assert!(
        msg.contains(
            "close is waiting for blocking work: 1 task(s) started through runner::spawn_blocking"
        ),
        "{msg}"
    );
    assert!(!msg.contains("blocks its thread"), "{msg}");
}

#[runner::test(start_paused = true, timeout = "250ms")]
#[ignore = "fails by design; checked by `timeout_runs_on_the_real_clock_when_time_is_paused`"]
#[should_panic(expected = "timed out")]
async fn waits_forever_with_a_paused_clock() {
    // With the clock paused and nothing to wake, tokio would advance time
    // forever; only a real-clock watchdog stops this.
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _ = rx.await;
}

#[test]
fn timeout_runs_on_the_real_clock_when_time_is_paused() {
    let start = Instant::now();
    let msg = failure_of(waits_forever_with_a_paused_clock);
    assert!(msg.contains("timed out after 250ms"), "{msg}");
    assert!(start.elapsed() < Duration::from_millis(250) + MARGIN);
}

#[runner::test(timeout = "5s")]
async fn a_body_that_finishes_in_time_passes() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[runner::test]
#[ignore = "fails by design; checked by `an_unobserved_task_panic_fails_the_test`"]
#[should_panic(expected = "nobody retrieved the panic")]
async fn drops_a_panicked_task() {
    let task = runner::spawn(async { panic!("lost in a task") });
    while !task.is_finished() {
        tokio::task::yield_now().await;
    }
    drop(task);
}

#[test]
fn an_unobserved_task_panic_fails_the_test() {
    let msg = failure_of(drops_a_panicked_task);
    assert!(msg.contains("1 runner task(s) panicked"), "{msg}");
}

static IGNORED_PANIC_BODY_WENT_ON: AtomicBool = AtomicBool::new(false);

#[runner::test(unhandled_panic = "ignore")]
#[ignore = "fails by design; checked by `unhandled_panic_ignore_lets_the_body_go_on_then_fails_the_test`"]
#[should_panic(expected = "nobody retrieved the panic")]
async fn ignores_a_lost_panic() {
    let task = runner::spawn(async { panic!("lost in a task") });
    while !task.is_finished() {
        tokio::task::yield_now().await;
    }
    drop(task);
    tokio::task::yield_now().await;
    IGNORED_PANIC_BODY_WENT_ON.store(true, Ordering::SeqCst);
}

#[test]
fn unhandled_panic_ignore_lets_the_body_go_on_then_fails_the_test() {
    let msg = failure_of(ignores_a_lost_panic);
    assert!(IGNORED_PANIC_BODY_WENT_ON.load(Ordering::SeqCst));
    assert!(msg.contains("1 runner task(s) panicked"), "{msg}");
}

#[runner::test]
async fn a_task_panic_that_is_awaited_does_not_fail_the_test() {
    let err = runner::spawn(async { panic!("seen") }).await.unwrap_err();
    assert!(err.is_panic());
}

#[runner::test]
#[should_panic(expected = "the body's own panic")]
async fn a_panic_in_the_body_reaches_should_panic() {
    panic!("the body's own panic");
}

#[runner::test]
async fn tasks_left_pending_are_reported_but_do_not_fail() {
    // A background server that runs until the test ends is a correct pattern.
    runner::task::Builder::new()
        .name("server")
        .spawn_local(std::future::pending::<()>())
        .unwrap();
}

#[runner::test(start_paused = true)]
async fn start_paused_makes_an_hour_pass_at_once() {
    let real = Instant::now();
    let virt = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(virt.elapsed() >= Duration::from_secs(3600));
    assert!(real.elapsed() < Duration::from_secs(5));
}

#[runner::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_runs_tasks_on_workers() {
    let index = tokio::spawn(async { tokio::runtime::worker_index() })
        .await
        .unwrap();
    assert!(index.is_some());
}

#[runner::test]
async fn each_test_gets_a_debug_runner_of_its_own() {
    static SEEN: runner::ContextVar<u32> = runner::ContextVar::new("seen");
    assert_eq!(SEEN.get(), None, "a fresh context per test");
    SEEN.set(1);
    let name = std::thread::current().name().map(str::to_owned);
    assert_eq!(
        name.as_deref(),
        Some("each_test_gets_a_debug_runner_of_its_own")
    );
}

#[runner::test]
async fn the_body_need_not_be_send() {
    let rc = std::rc::Rc::new(5);
    tokio::task::yield_now().await;
    assert_eq!(*rc, 5);
}

#[runner::test]
async fn a_result_test_passes_with_ok() -> Result<(), Box<dyn std::error::Error>> {
    let n: u8 = "3".parse()?;
    assert_eq!(n, 3);
    Ok(())
}

#[runner::test]
#[ignore = "fails by design; checked by `a_result_test_fails_with_err`"]
async fn returns_err() -> Result<(), Box<dyn std::error::Error>> {
    // `Box<dyn Error>` is not `Send`: the value is reported on its own thread.
    Err("nope".into())
}

#[test]
fn a_result_test_fails_with_err() {
    let code = returns_err();
    assert_eq!(code, std::process::ExitCode::FAILURE);
}

#[runner::test]
#[ignore = "fails by design; checked by `a_lost_panic_of_blocking_work_fails_the_test_at_once`"]
async fn blocking_work_panics_unobserved() {
    drop(runner::spawn_blocking(|| panic!("blocking work failed")));
    tokio::time::sleep(Duration::from_secs(30)).await;
}

#[test]
fn a_lost_panic_of_blocking_work_fails_the_test_at_once() {
    let start = Instant::now();
    let msg = failure_of(blocking_work_panics_unobserved);
    assert!(msg.contains("blocking work failed"), "{msg}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
