//! Debug mode and the lost-panic report (see the crate docs), read
//! from the `tracing` events the runner emits under the `runner` target.

mod support;

use std::time::Duration;

use runner::{Error, Runner};
use support::Capture;
use tokio::sync::oneshot;
use tracing::Level;

/// Long enough to cross the default 100 ms slow-poll threshold.
const SLOW: Duration = Duration::from_millis(150);

fn debug_runner() -> Runner {
    Runner::builder().debug(true).build()
}

fn quiet_runner() -> Runner {
    Runner::builder().debug(false).build()
}

/// A task that panics with `message` once it is polled the second time, so
/// its handle can be dropped before the panic; `done` resolves once the
/// task is gone (after its panic was noticed).
fn panics_later(message: &'static str) -> (impl Future<Output = ()> + Send, oneshot::Receiver<()>) {
    let (gone, done) = oneshot::channel::<()>();
    let task = async move {
        let _gone = gone;
        tokio::task::yield_now().await;
        panic!("{message}");
    };
    (task, done)
}

// Slow polls.

#[test]
fn slow_poll_of_the_main_task_names_main_and_the_run_call_line() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let main = async { std::thread::sleep(SLOW) };
    let line = capture.during(|| {
        let (result, line) = (runner.run(main), line!());
        result.unwrap();
        line
    });
    let slow = capture.reports_containing("slow poll");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].level, Level::WARN);
    assert_eq!(slow[0].field("task"), "main");
    assert!(slow[0].points_at(file!(), line), "{slow:#?}");
    assert!(slow[0].field("took_ms").parse::<f64>().unwrap() >= 150.0);
}

#[test]
fn slow_poll_in_spawned_task_names_its_spawn_line() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let line = capture.during(|| {
        runner.run(async {
            let (task, line) = (runner::spawn(async { std::thread::sleep(SLOW) }), line!());
            task.await.unwrap();
            line
        })
    });
    let line = line.unwrap();
    let slow = capture.reports_containing("slow poll");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].field("task"), "unnamed");
    assert!(slow[0].points_at(file!(), line), "{slow:#?}");
}

#[test]
fn slow_poll_in_named_local_task_gives_its_name() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let line = capture.during(|| {
        runner.run(async {
            let builder = runner::task::Builder::new().name("fetch");
            let blocking = async { std::thread::sleep(SLOW) };
            let (task, line) = (builder.spawn_local(blocking), line!());
            task.unwrap().await.unwrap();
            line
        })
    });
    let line = line.unwrap();
    let slow = capture.reports_containing("slow poll");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].field("task"), "fetch");
    assert!(slow[0].message.contains("`fetch`"), "{slow:#?}");
    assert!(slow[0].points_at(file!(), line), "{slow:#?}");
}

#[test]
fn a_threshold_of_one_second_suppresses_a_150_ms_poll() {
    let capture = Capture::new();
    let mut runner = Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_secs(1))
        .build();
    capture.during(|| runner.run(async { std::thread::sleep(SLOW) }).unwrap());
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}

#[test]
fn a_lowered_threshold_reports_shorter_polls() {
    let capture = Capture::new();
    let mut runner = Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(5))
        .build();
    capture.during(|| {
        runner
            .run(async { std::thread::sleep(Duration::from_millis(30)) })
            .unwrap()
    });
    let slow = capture.reports_containing("slow poll");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].field("threshold_ms").parse::<f64>().unwrap(), 5.0);
}

#[test]
fn waiting_at_an_await_is_not_a_slow_poll() {
    let capture = Capture::new();
    let mut runner = Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(20))
        .build();
    capture.during(|| {
        runner
            .run(async {
                let sleeper = runner::spawn(tokio::time::sleep(Duration::from_millis(60)));
                tokio::time::sleep(Duration::from_millis(60)).await;
                sleeper.await.unwrap();
            })
            .unwrap()
    });
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}

#[test]
fn no_reports_with_debug_off() {
    let capture = Capture::new();
    let mut runner = quiet_runner();
    capture.during(|| {
        runner
            .run(async {
                std::thread::sleep(SLOW);
                runner::spawn(async { std::thread::sleep(SLOW) })
                    .await
                    .unwrap();
                runner::spawn_local(std::future::pending::<()>());
                let nested = quiet_runner().run(async {});
                assert!(matches!(nested, Err(Error::NestedRun)));
            })
            .unwrap();
        runner.close();
    });
    assert!(!runner.is_debug());
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}

// Panics nobody retrieved.

#[test]
fn lost_panic_is_reported_with_spawn_site_and_message_with_debug_off() {
    let capture = Capture::new();
    let mut runner = quiet_runner();
    let line = capture.during(|| {
        runner.run(async {
            let (task, done) = panics_later("lost while quiet");
            let (handle, line) = (runner::spawn(task), line!());
            drop(handle);
            done.await.unwrap_err();
            line
        })
    });
    let line = line.unwrap();
    let lost = capture.reports_containing("nobody retrieved");
    assert_eq!(lost.len(), 1, "{lost:#?}");
    assert_eq!(lost[0].level, Level::ERROR);
    assert_eq!(lost[0].field("panic"), "lost while quiet");
    assert!(lost[0].message.contains("lost while quiet"), "{lost:#?}");
    assert!(lost[0].points_at(file!(), line), "{lost:#?}");
}

#[test]
fn lost_panic_is_reported_with_spawn_site_and_message_in_debug_mode() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let line = capture.during(|| {
        runner.run(async {
            let (task, done) = panics_later("lost in debug");
            let builder = runner::task::Builder::new().name("doomed");
            let (handle, line) = (builder.spawn_local(task), line!());
            drop(handle);
            done.await.unwrap_err();
            line
        })
    });
    let line = line.unwrap();
    let lost = capture.reports_containing("nobody retrieved");
    assert_eq!(lost.len(), 1, "{lost:#?}");
    assert_eq!(lost[0].level, Level::ERROR);
    assert_eq!(lost[0].field("task"), "doomed");
    assert_eq!(lost[0].field("panic"), "lost in debug");
    assert!(lost[0].points_at(file!(), line), "{lost:#?}");
}

#[test]
fn panic_after_its_handle_was_dropped_is_reported_once_when_it_happens() {
    let capture = Capture::new();
    let mut runner = quiet_runner();
    capture.during(|| {
        runner
            .run(async {
                let (task, done) = panics_later("after drop");
                drop(runner::spawn(task));
                assert!(capture.reports().is_empty());
                done.await.unwrap_err();
                assert_eq!(capture.reports_containing("after drop").len(), 1);
            })
            .unwrap();
        runner.close();
    });
    assert_eq!(capture.reports_containing("after drop").len(), 1);
}

#[test]
fn handle_dropped_after_its_task_panicked_is_reported_once_when_dropped() {
    let capture = Capture::new();
    let mut runner = quiet_runner();
    capture.during(|| {
        runner
            .run(async {
                let (task, done) = panics_later("before drop");
                let handle = runner::spawn(task);
                done.await.unwrap_err();
                assert!(handle.is_finished());
                assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
                drop(handle);
                assert_eq!(capture.reports_containing("before drop").len(), 1);
            })
            .unwrap();
        runner.close();
    });
    assert_eq!(capture.reports_containing("before drop").len(), 1);
}

#[test]
fn retrieved_panic_is_not_reported() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture.during(|| {
        runner
            .run(async {
                let (task, _done) = panics_later("retrieved");
                let err = runner::spawn(task).await.unwrap_err();
                assert!(err.is_panic());
            })
            .unwrap();
        runner.close();
    });
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}

#[test]
fn lost_panic_of_blocking_work_reaches_the_spawners_subscriber_with_its_spawn_line() {
    let capture = Capture::new();
    let mut runner = quiet_runner();
    let line = capture.during(|| {
        runner.run(async {
            let (gone, done) = oneshot::channel::<()>();
            let (handle, line) = (runner::spawn_blocking(|| blocking_panic(gone)), line!());
            drop(handle);
            done.await.unwrap_err();
            line
        })
    });
    let line = line.unwrap();
    let lost = capture.wait_for("blocking boom", Duration::from_secs(5));
    let lost = lost.expect("the lost panic of blocking work is reported");
    assert!(lost.points_at(file!(), line), "{lost:#?}");
}

fn blocking_panic(gone: oneshot::Sender<()>) {
    let _gone = gone;
    panic!("blocking boom");
}

// Tasks left pending at close.

#[test]
fn tasks_pending_at_close_are_reported_with_name_and_spawn_site() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let lines = capture.during(|| {
        let lines = runner.run(async {
            let named = runner::task::Builder::new().name("forever");
            let (_a, a) = (named.spawn(std::future::pending::<()>()), line!());
            let (_b, b) = (runner::spawn_local(std::future::pending::<()>()), line!());
            (a, b)
        });
        assert!(capture.reports().is_empty(), "reported before close");
        runner.close();
        lines.unwrap()
    });
    let left = capture.reports_containing("still pending");
    assert_eq!(left.len(), 2, "{left:#?}");
    assert!(left.iter().all(|r| r.level == Level::WARN));
    assert_eq!(left[0].field("task"), "forever");
    assert!(left[0].points_at(file!(), lines.0), "{left:#?}");
    assert_eq!(left[1].field("task"), "unnamed");
    assert!(left[1].points_at(file!(), lines.1), "{left:#?}");
}

#[test]
fn finished_tasks_are_not_reported_at_close() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture.during(|| {
        runner
            .run(async {
                runner::spawn(async { 1 }).await.unwrap();
                let (gone, done) = oneshot::channel::<()>();
                drop(runner::spawn_local(async move { drop(gone) }));
                done.await.unwrap_err();
                let (task, _done) = panics_later("finished by panic");
                runner::spawn(task).await.unwrap_err();
            })
            .unwrap();
        runner.close();
    });
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}

#[test]
fn tasks_aborted_before_close_are_not_reported_at_close() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture.during(|| {
        runner
            .run(async {
                runner::spawn_local(std::future::pending::<()>()).abort();
                runner::spawn(std::future::pending::<()>()).abort();
                runner::spawn(std::future::pending::<()>()).cancel();
                let task = runner::spawn(std::future::pending::<()>());
                task.cancel_handle().cancel();
                let task = runner::spawn(std::future::pending::<()>());
                task.cancel_handle().abort();
            })
            .unwrap();
        runner.close();
    });
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}

#[test]
fn more_than_twenty_leftover_tasks_end_with_a_count() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture.during(|| {
        runner
            .run(async {
                for _ in 0..25 {
                    runner::spawn_local(std::future::pending::<()>());
                }
            })
            .unwrap();
        runner.close();
    });
    let reports = capture.reports();
    assert_eq!(reports.len(), 21, "{reports:#?}");
    let named = reports.iter().filter(|r| r.fields.contains_key("task"));
    assert_eq!(named.count(), 20);
    let count = &reports[20];
    assert_eq!(count.level, Level::WARN);
    assert!(count.message.starts_with("5 more tasks"), "{count:#?}");
    assert_eq!(count.field("pending"), "25");
}

// Misuse.

#[test]
fn nested_run_inside_a_runner_loop_is_explained_with_both_call_sites() {
    let capture = Capture::new();
    let mut runner = quiet_runner();
    let main = async {
        let (nested, line) = (debug_runner().run(async {}), line!());
        assert!(matches!(nested, Err(Error::NestedRun)));
        line
    };
    let (inner, outer) = capture.during(|| (runner.run(main), line!()));
    let inner = inner.unwrap();
    let misuse = capture.reports();
    assert_eq!(misuse.len(), 1, "{misuse:#?}");
    assert_eq!(misuse[0].level, Level::WARN);
    assert!(misuse[0].points_at(file!(), inner), "{misuse:#?}");
    assert!(
        misuse[0].message.contains("already running a runner loop"),
        "{misuse:#?}"
    );
    let outer_site = format!("{}:{outer}:", file!());
    assert!(misuse[0].message.contains(&outer_site), "{misuse:#?}");
}

#[test]
fn nested_run_inside_a_tokio_runtime_is_explained() {
    let capture = Capture::new();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let line = capture.during(|| {
        tokio.block_on(async {
            let (nested, line) = (debug_runner().run(async {}), line!());
            assert!(matches!(nested, Err(Error::NestedRun)));
            line
        })
    });
    let misuse = capture.reports();
    assert_eq!(misuse.len(), 1, "{misuse:#?}");
    assert!(misuse[0].points_at(file!(), line), "{misuse:#?}");
    assert!(misuse[0].message.contains("Tokio runtime"), "{misuse:#?}");
}

#[test]
fn run_on_a_closed_runner_is_explained_with_where_it_was_closed() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    runner.run(async {}).unwrap();
    let ((), closed_at) = (runner.close(), line!());
    let line = capture.during(|| {
        let (refused, line) = (runner.run(async {}), line!());
        assert!(matches!(refused, Err(Error::Closed)));
        line
    });
    let misuse = capture.reports();
    assert_eq!(misuse.len(), 1, "{misuse:#?}");
    assert!(misuse[0].points_at(file!(), line), "{misuse:#?}");
    let closed_site = format!("closed at {}:{closed_at}:", file!());
    assert!(misuse[0].message.contains(&closed_site), "{misuse:#?}");
}

#[test]
fn run_after_the_runtime_factory_failed_is_explained() {
    let capture = Capture::new();
    let mut runner = Runner::builder()
        .debug(true)
        .runtime(|| Err(std::io::Error::other("no reactor")))
        .build();
    let first = runner.run(async {});
    assert!(matches!(first, Err(Error::Runtime(_))));
    let refused = capture.during(|| runner.run(async {}));
    assert!(matches!(refused, Err(Error::Closed)));
    let misuse = capture.reports();
    assert_eq!(misuse.len(), 1, "{misuse:#?}");
    assert!(
        misuse[0].message.contains("runtime factory failed"),
        "{misuse:#?}"
    );
}

#[test]
fn blocking_work_running_at_close_is_not_reported_as_a_pending_task() {
    let capture = Capture::new();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    capture.during(|| {
        let mut runner = Runner::builder()
            .debug(true)
            .shutdown_timeout(Duration::from_millis(10))
            .build();
        runner
            .run(async move {
                let (started, on_pool) = oneshot::channel();
                runner::task::Builder::new()
                    .name("copy")
                    .spawn_blocking(move || {
                        let _ = started.send(());
                        let _ = wait.recv();
                    })
                    .unwrap();
                on_pool.await.unwrap();
            })
            .unwrap();
        runner.close();
    });
    release.send(()).unwrap();
    let pending = capture.reports_containing("still pending");
    assert!(pending.is_empty(), "{pending:#?}");
    // Close says what it left behind, as without debug mode.
    let left = capture.reports_containing("still running after the shutdown timeout");
    assert_eq!(left.len(), 1, "{:#?}", capture.reports());
}
