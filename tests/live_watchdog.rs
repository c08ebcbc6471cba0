//! Debug mode's watchdog: a poll that holds its thread longer than the
//! slow-poll threshold is named while it still holds it, from another
//! thread, to the subscriber of the thread that called `run`.
//!
//! Each blocked task here spins until a helper thread has seen the report,
//! so a report that arrives at all arrived while the task was blocked.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use runner::Runner;
use runner::task::Builder;
use support::{Capture, Report};
use tracing::Level;

const LIVE: &str = "still holds its thread";
/// How long a helper waits for a report before it gives up (and releases
/// the blocked task, so that the test fails instead of hanging).
const GIVE_UP: Duration = Duration::from_secs(30);

fn debug_runner() -> Runner {
    Runner::builder()
        .debug(true)
        .handle_sigint(false)
        .slow_poll_threshold(Duration::from_millis(50))
        .build()
}

/// Blocks the calling thread until `release` is set: a blocking call in
/// async code.
fn block_until(release: &AtomicBool) {
    while !release.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Starts a thread that waits for a report containing `needle` in
/// `capture`, then sets `release`; it returns the report.
fn release_once_reported(
    capture: &Capture,
    needle: &'static str,
    release: &Arc<AtomicBool>,
) -> thread::JoinHandle<Option<Report>> {
    let (capture, release) = (capture.clone(), release.clone());
    thread::spawn(move || {
        let report = capture.wait_for(needle, GIVE_UP);
        release.store(true, Ordering::Release);
        report
    })
}

#[test]
fn a_task_blocked_in_a_poll_is_named_while_it_still_blocks() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let release = Arc::new(AtomicBool::new(false));
    let helper = release_once_reported(&capture, LIVE, &release);
    let line = capture.during(|| {
        runner.run(async {
            let blocked = release.clone();
            let blocker = async move { block_until(&blocked) };
            let (task, line) = (Builder::new().name("blocker").spawn_local(blocker), line!());
            task.unwrap().await.unwrap();
            line
        })
    });
    let line = line.unwrap();
    let live = helper
        .join()
        .unwrap()
        .expect("named while it still blocked");
    assert_eq!(live.level, Level::WARN);
    assert_eq!(live.field("task"), "blocker");
    assert!(live.points_at(file!(), line), "{live:#?}");
    assert!(live.message.contains("`blocker`"), "{live:#?}");
    let held: f64 = live.field("held_ms").parse().unwrap();
    assert!(held > 50.0, "{live:#?}");
    // The report after the poll still comes, after the live one.
    let reports = capture.reports();
    let live_at = reports.iter().position(|r| r.message.contains(LIVE));
    let after_at = reports.iter().position(|r| r.message.contains("slow poll"));
    assert!(
        matches!((live_at, after_at), (Some(l), Some(a)) if l < a),
        "{reports:#?}"
    );
}

#[test]
fn a_main_task_blocked_in_a_poll_is_named_main_with_the_run_line() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let release = Arc::new(AtomicBool::new(false));
    let helper = release_once_reported(&capture, LIVE, &release);
    let line = capture.during(|| {
        let (result, line) = (runner.run(async { block_until(&release) }), line!());
        result.unwrap();
        line
    });
    let live = helper
        .join()
        .unwrap()
        .expect("named while it still blocked");
    assert_eq!(live.field("task"), "main");
    assert!(live.points_at(file!(), line), "{live:#?}");
}

#[test]
fn a_poll_is_named_once_however_long_it_blocks() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let first = Arc::new(AtomicBool::new(false));
    let second = Arc::new(AtomicBool::new(false));
    // The first task blocks until a second runner, on another thread, has
    // had a task of its own blocked long enough to be named: the watchdog
    // looked many times while the first was blocked.
    let other = {
        let (capture, first, second) = (capture.clone(), first.clone(), second.clone());
        thread::spawn(move || {
            capture.wait_for("`first`", GIVE_UP);
            let helper = release_once_reported(&capture, "`second`", &second);
            capture.during(|| {
                debug_runner()
                    .run(async {
                        let blocked = second.clone();
                        let task = Builder::new().name("second");
                        task.spawn_local(async move { block_until(&blocked) })
                            .unwrap()
                            .await
                            .unwrap();
                    })
                    .unwrap()
            });
            first.store(true, Ordering::Release);
            helper.join().unwrap()
        })
    };
    capture.during(|| {
        runner
            .run(async {
                let blocked = first.clone();
                let task = Builder::new().name("first");
                task.spawn_local(async move { block_until(&blocked) })
                    .unwrap()
                    .await
                    .unwrap();
            })
            .unwrap()
    });
    other.join().unwrap().expect("the second task was named");
    let named_first = capture
        .reports_containing(LIVE)
        .into_iter()
        .filter(|r| r.field("task") == "first")
        .count();
    assert_eq!(named_first, 1, "{:#?}", capture.reports());
}
