//! `#[runner::test]` says what is stuck and fails fast: a timed-out test
//! prints the task dump, a background task's lost panic fails the test at
//! once, and so does a lost waker in the test's body.
//!
//! Tests that must fail are `#[ignore]`d functions; a checking test runs
//! each one, in process when the panic message is what it reads, or as a
//! child process (this test binary, `--ignored --exact`) when it reads what
//! the failure printed.

use std::panic;
use std::process::Command;
use std::time::{Duration, Instant};

/// The watchdog's margin: the failures come on the real clock, not much
/// after their limit (a child process also has to start).
const MARGIN: Duration = Duration::from_secs(2);

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

/// Runs the `#[ignore]`d test `name` of this binary in a child process;
/// returns whether it passed, its stdout and stderr, and how long it took.
fn run_child(name: &str) -> (bool, String, Duration) {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let took = start.elapsed();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text, took)
}

/// The line of this file that `at` ("tests/x.rs:12:5") points to.
fn source_line(at: &str) -> String {
    let mut parts = at.split(':');
    let (file, line) = (parts.next().unwrap(), parts.next().unwrap());
    let line: usize = line.parse().unwrap();
    let source = std::fs::read_to_string(file).unwrap();
    source.lines().nth(line - 1).unwrap().to_owned()
}

#[runner::test(timeout = "1s")]
#[ignore = "fails by design; checked by `a_stuck_test_fails_on_time_and_prints_the_stuck_task`"]
async fn stuck() {
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let builder = runner::task::Builder::new().name("stuck-task");
    let waiter = builder.spawn_local(rx).unwrap();
    waiter.await.unwrap().unwrap();
}

#[test]
fn a_stuck_test_fails_on_time_and_prints_the_stuck_task() {
    let (passed, output, took) = run_child("stuck");
    assert!(!passed, "{output}");
    assert!(took < Duration::from_secs(1) + MARGIN, "{took:?}\n{output}");
    assert!(output.contains("test timed out after 1s"), "{output}");
    assert!(
        output.contains("runner task dump: 2 live tasks"),
        "{output}"
    );
    // Its own line (the main task's line names it too, as the task it awaits).
    let task = output
        .lines()
        .find(|l| l.trim_start().starts_with("`stuck-task`"))
        .unwrap_or_else(|| panic!("no stuck-task line in:\n{output}"));
    assert!(task.contains(": idle for "), "{task}");
    let at = task
        .split(" spawned at ")
        .nth(1)
        .and_then(|rest| rest.split(':').take(3).collect::<Vec<_>>().into())
        .map(|parts: Vec<&str>| parts.join(":"))
        .unwrap();
    assert!(at.starts_with(file!()), "{task}");
    assert!(
        source_line(&at).contains("builder.spawn_local(rx)"),
        "{task}"
    );
    let main = output
        .lines()
        .find(|l| l.contains("`main` run at "))
        .unwrap();
    assert!(main.contains(file!()), "the test's own line: {main}");
    assert!(main.contains(", awaiting `stuck-task` (id "), "{main}");
}

#[runner::test(timeout = "60s")]
#[ignore = "fails by design; checked by `a_background_panic_fails_the_test_at_once`"]
async fn background_panic() {
    runner::task::Builder::new()
        .name("background")
        .spawn(async { panic!("the background task failed") })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
}

#[test]
fn a_background_panic_fails_the_test_at_once() {
    let start = Instant::now();
    let msg = failure_of(background_panic);
    assert!(start.elapsed() < MARGIN, "{:?}", start.elapsed());
    assert!(msg.contains("task `background`"), "{msg}");
    assert!(msg.contains("the background task failed"), "{msg}");
    assert!(msg.contains(file!()), "names the spawn site: {msg}");
    // The way a test chooses to go on: the attribute's argument, not a
    // Builder setting the test cannot reach.
    assert!(!msg.contains("LostPanic::Report"), "{msg}");
    assert!(msg.contains(r#"unhandled_panic = "ignore""#), "{msg}");
}

#[runner::test(timeout = "30s")]
#[ignore = "fails by design; checked by `a_lost_waker_in_the_body_fails_the_test_at_once_naming_its_line`"]
async fn forgets_its_waker() {
    std::future::poll_fn(|_| std::task::Poll::<()>::Pending).await;
}

#[test]
fn a_lost_waker_in_the_body_fails_the_test_at_once_naming_its_line() {
    let start = Instant::now();
    let msg = failure_of(forgets_its_waker);
    assert!(start.elapsed() < MARGIN, "{:?}", start.elapsed());
    assert!(msg.contains("lost waker"), "{msg}");
    let at = format!("{}:", file!());
    let pos = msg.find(&at).unwrap_or_else(|| panic!("no {at} in {msg}"));
    let site = &msg[pos..];
    let site: String = site.split_whitespace().next().unwrap().to_owned();
    let line = source_line(&site);
    assert!(
        line.contains("#[runner::test(timeout = \"30s\")]"),
        "{site}: {line}"
    );
}
