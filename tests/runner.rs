//! `runner::run` and `Runner`: the loop's life and one loop per thread (see
//! the crate docs and DESIGN.md).

// Handing a task from one run to the next is what these tests check.
#![allow(clippy::async_yields_async)]

mod support;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use runner::{Error, Runner};
use support::{Capture, DropFlag};
use tracing::Level;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// --- running ---------------------------------------------------------------

#[test]
fn run_returns_the_main_futures_output() {
    let out = runner::run(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        "done"
    });
    assert_eq!(out.unwrap(), "done");
}

#[test]
fn the_main_future_may_borrow_and_need_not_be_send() {
    let mut log = Vec::new();
    let local = Rc::new(Cell::new(0));
    let mut runner = Runner::new();
    runner
        .run(async {
            local.set(1);
            tokio::task::yield_now().await;
            log.push(local.get());
        })
        .unwrap();
    assert_eq!(log, [1]);
}

#[test]
fn the_output_needs_no_bounds() {
    struct Opaque(Rc<()>); // neither Debug, Send nor Sync
    let out = runner::run(async { Opaque(Rc::new(())) });
    let Ok(Opaque(rc)) = out else {
        panic!("run failed")
    };
    assert_eq!(Rc::strong_count(&rc), 1);
}

#[test]
fn runs_on_one_runner_share_one_loop() {
    let mut runner = Runner::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let task = runner
        .run(async { runner::spawn_local(async move { rx.await.unwrap() * 2 }) })
        .unwrap();
    // The task spawned in the first run is still alive in the second.
    let out = runner
        .run(async move {
            tx.send(21).unwrap();
            task.await.unwrap()
        })
        .unwrap();
    assert_eq!(out, 42);
}

#[test]
fn runtime_tasks_spawned_in_one_run_progress_in_the_next() {
    let mut runner = Runner::new();
    let handle = runner
        .run(async {
            runner::spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                7
            })
        })
        .unwrap();
    assert_eq!(runner.run(handle).unwrap().unwrap(), 7);
}

#[test]
fn spawned_tasks_on_the_default_loop_run_on_the_calling_thread() {
    let me = std::thread::current().id();
    let seen = runner::run(async { runner::spawn(async { std::thread::current().id() }).await })
        .unwrap()
        .unwrap();
    assert_eq!(seen, me);
}

// --- the runtime factory ----------------------------------------------------

#[test]
fn the_factory_is_not_called_before_first_use_and_exactly_once_after() {
    let calls = Rc::new(Cell::new(0));
    let counted = calls.clone();
    let mut runner = Runner::builder()
        .runtime(move || {
            counted.set(counted.get() + 1);
            Ok(current_thread())
        })
        .build();
    assert_eq!(calls.get(), 0, "built before first use");
    runner.run(async {}).unwrap();
    runner.run(async {}).unwrap();
    runner.handle().unwrap();
    runner.close();
    assert_eq!(calls.get(), 1);
}

#[test]
fn handle_initialises_the_loop_lazily() {
    let calls = Rc::new(Cell::new(0));
    let counted = calls.clone();
    let mut runner = Runner::builder()
        .runtime(move || {
            counted.set(counted.get() + 1);
            Ok(current_thread())
        })
        .build();
    let handle = runner.handle().unwrap();
    assert_eq!(calls.get(), 1);
    let task = handle.spawn(async { 5 });
    assert_eq!(runner.run(task).unwrap().unwrap(), 5);
}

#[test]
fn a_multi_thread_runtime_from_the_factory_works() {
    let mut runner = Runner::builder().runtime(|| Ok(multi_thread())).build();
    let (worker, main_thread) = runner
        .run(async {
            let worker = runner::spawn(async { tokio::runtime::worker_index() })
                .await
                .unwrap();
            (worker, std::thread::current().id())
        })
        .unwrap();
    assert!(worker.is_some(), "runner::spawn ran on a worker");
    assert_eq!(
        main_thread,
        std::thread::current().id(),
        "main task ran here"
    );
    // spawn_local still works: the LocalSet is driven by this thread.
    let out = runner
        .run(async { runner::spawn_local(async { 3 }).await.unwrap() })
        .unwrap();
    assert_eq!(out, 3);
}

#[test]
fn a_failing_factory_is_a_runtime_error_and_closes_the_runner() {
    let mut runner = Runner::builder()
        .runtime(|| Err(std::io::Error::other("no runtime today")))
        .build();
    match runner.run(async {}) {
        Err(Error::Runtime(err)) => assert_eq!(err.to_string(), "no runtime today"),
        other => panic!("expected Error::Runtime, got {other:?}"),
    }
    assert!(matches!(runner.run(async {}), Err(Error::Closed)));
}

#[test]
fn a_panicking_factory_closes_the_runner_instead_of_falling_back_to_the_default() {
    let mut runner = Runner::builder()
        .runtime(|| panic!("factory panicked"))
        .build();
    let panicked = catch_unwind(AssertUnwindSafe(|| runner.run(async {})));
    assert!(panicked.is_err());
    let called = Arc::new(AtomicBool::new(false));
    let polled = called.clone();
    let result = runner.run(async move { polled.store(true, Ordering::Relaxed) });
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    assert!(!called.load(Ordering::Relaxed), "no default runtime ran it");
}

#[test]
fn spawn_local_works_from_every_task_of_the_default_loop() {
    let out = runner::run(async {
        let from_spawn = runner::spawn(async { runner::spawn_local(async { 1 }).await.unwrap() });
        let from_raw = tokio::spawn(async { runner::spawn_local(async { 2 }).await.unwrap() });
        let from_local = runner::spawn_local(async {
            runner::spawn(async { runner::spawn_local(async { 3 }).await.unwrap() })
                .await
                .unwrap()
        });
        from_spawn.await.unwrap() + from_raw.await.unwrap() + from_local.await.unwrap()
    })
    .unwrap();
    assert_eq!(out, 6);
}

#[test]
fn a_runner_dropped_where_close_cannot_wait_is_named_by_where_it_was_created() {
    // Its `Drop` has no caller location: the warning must not name the
    // library's own `Drop` as the place where `close` was called.
    let capture = Capture::new();
    let (mut inner, line) = (Runner::builder().handle_sigint(false).build(), line!());
    inner.handle().unwrap();
    capture.during(|| runner::run(async move { drop(inner) }).unwrap());
    let reports = capture.reports_containing("shut down without waiting");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let message = &reports[0].message;
    assert!(!message.contains("src/runner/mod.rs"), "{message}");
    assert!(message.contains("dropped"), "{message}");
    assert!(
        message.contains(&format!("created at {}:{line}:", file!())),
        "{message}"
    );
}

#[test]
fn a_runner_kept_in_a_thread_local_closes_at_thread_exit() {
    // Run in a child process: before the fix, the thread's exit aborted the
    // process ("thread local panicked on drop").
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "thread_local_runner_child",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{status:?}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
#[ignore = "run in a child process by `a_runner_kept_in_a_thread_local_closes_at_thread_exit`"]
fn thread_local_runner_child() {
    use std::cell::RefCell;
    thread_local! {
        static LOOP: RefCell<Runner> =
            RefCell::new(Runner::builder().handle_sigint(false).build());
    }
    for _ in 0..4 {
        let out = std::thread::spawn(|| {
            LOOP.with_borrow_mut(|r| {
                r.run(async {
                    runner::spawn_local(std::future::pending::<()>());
                    runner::spawn_blocking(|| ());
                    2
                })
                .unwrap()
            })
        })
        .join()
        .unwrap();
        assert_eq!(out, 2);
    }
    // And on this thread, whose thread-locals are destroyed after the test.
    LOOP.with_borrow_mut(|r| r.run(async { 3 }).unwrap());
}

/// On Unix a runner built in its thread-local's initializer is dropped at
/// thread exit before Tokio's thread-locals (DESIGN.md, "A runner in a
/// thread-local"), so it closes in full: its leftover task is cancelled, a
/// task that listens for cancellation gets to finish its async cleanup, and
/// its blocking work is waited for. (On Windows it is left behind with a
/// warning: `a_runner_kept_in_a_thread_local_closes_at_thread_exit`, run
/// under Wine by scripts/platforms.sh, checks that the thread still exits.)
#[cfg(unix)]
#[test]
fn a_runner_built_in_a_thread_local_closes_in_full_at_thread_exit() {
    use std::cell::RefCell;
    thread_local! {
        static LOOP: RefCell<Runner> =
            RefCell::new(Runner::builder().handle_sigint(false).build());
    }
    let (dropped, cancelled) = DropFlag::new();
    let finished = Arc::new(AtomicBool::new(false));
    let blocking_finished = finished.clone();
    let cleaned_up = Arc::new(AtomicBool::new(false));
    let listener_cleaned_up = cleaned_up.clone();
    std::thread::spawn(move || {
        LOOP.with_borrow_mut(|r| {
            r.run(async move {
                runner::spawn_local(async move {
                    let _dropped = dropped;
                    std::future::pending::<()>().await;
                });
                let (listening, listens) = tokio::sync::oneshot::channel::<()>();
                runner::spawn_local(async move {
                    assert!(!runner::task::is_cancelled());
                    let _ = listening.send(());
                    runner::task::cancelled().await;
                    tokio::task::yield_now().await;
                    listener_cleaned_up.store(true, Ordering::SeqCst);
                });
                listens.await.unwrap();
                runner::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    blocking_finished.store(true, Ordering::SeqCst);
                });
            })
            .unwrap();
        });
    })
    .join()
    .unwrap();
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the leftover task is cancelled"
    );
    assert!(
        cleaned_up.load(Ordering::SeqCst),
        "the listening task finished its cleanup"
    );
    assert!(
        finished.load(Ordering::SeqCst),
        "close waited for the blocking work"
    );
}

#[test]
fn a_lost_panic_of_blocking_work_is_counted_like_a_tasks() {
    let capture = Capture::new();
    let mut runner = Runner::builder().handle_sigint(false).build();
    capture.during(|| {
        runner
            .run(async {
                drop(runner::spawn_blocking(|| panic!("lost in the pool")));
            })
            .unwrap();
        runner.close();
    });
    assert_eq!(runner::__private::lost_panics(&runner), 1);
    assert!(
        capture
            .reports()
            .iter()
            .any(|r| r.level == Level::ERROR && r.message.contains("lost in the pool")),
        "{:#?}",
        capture.reports()
    );
}

// --- one loop per thread ----------------------------------------------------

#[test]
fn run_inside_a_runner_is_a_nested_run() {
    runner::run(async {
        assert!(matches!(runner::run(async {}), Err(Error::NestedRun)));
        let mut inner = Runner::new();
        assert!(matches!(inner.run(async {}), Err(Error::NestedRun)));
    })
    .unwrap();
}

#[test]
fn run_inside_a_runner_task_is_a_nested_run() {
    let out = runner::run(async {
        runner::spawn_local(async { matches!(runner::run(async {}), Err(Error::NestedRun)) })
            .await
            .unwrap()
    });
    assert!(out.unwrap());
}

#[test]
fn run_inside_a_tokio_runtime_of_either_flavour_is_a_nested_run() {
    for rt in [current_thread(), multi_thread()] {
        let out = rt.block_on(async { runner::run(async {}) });
        assert!(matches!(out, Err(Error::NestedRun)), "in block_on");
        let out = rt.block_on(async { tokio::spawn(async { runner::run(async {}) }).await });
        assert!(matches!(out.unwrap(), Err(Error::NestedRun)), "in a task");
    }
}

#[test]
fn run_on_a_thread_that_entered_a_runtime_is_a_nested_run() {
    let rt = current_thread();
    let _entered = rt.enter();
    assert!(matches!(runner::run(async {}), Err(Error::NestedRun)));
}

#[test]
fn run_inside_spawn_blocking_is_allowed() {
    for rt in [current_thread(), multi_thread()] {
        let out = rt.block_on(async {
            tokio::task::spawn_blocking(|| runner::run(async { 1 }))
                .await
                .unwrap()
        });
        assert_eq!(out.unwrap(), 1);
    }
    let out = runner::run(async {
        runner::spawn_blocking(|| runner::run(async { 2 }))
            .await
            .unwrap()
    });
    assert_eq!(out.unwrap().unwrap(), 2);
}

#[test]
fn run_on_a_plain_thread_started_inside_a_runner_is_allowed() {
    let out = runner::run(async {
        std::thread::spawn(|| runner::run(async { 3 }))
            .join()
            .unwrap()
    });
    assert_eq!(out.unwrap().unwrap(), 3);
}

#[test]
fn a_refused_nested_run_never_polls_its_future() {
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    runner::run(async move {
        let _ = runner::run(async move { flag.store(true, Ordering::SeqCst) });
    })
    .unwrap();
    assert!(!polled.load(Ordering::SeqCst));
}

// --- panics -----------------------------------------------------------------

#[test]
fn a_panic_in_the_main_task_propagates_and_the_runner_stays_usable() {
    let mut runner = Runner::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let task = runner
        .run(async { runner::spawn_local(async move { rx.await.unwrap() }) })
        .unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        runner.run(async {
            tokio::task::yield_now().await;
            panic!("main failed");
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main failed"));
    // Same loop, same tasks, and the thread is free for a run again.
    let out = runner
        .run(async move {
            tx.send(9).unwrap();
            task.await.unwrap()
        })
        .unwrap();
    assert_eq!(out, 9);
}

#[test]
fn a_panic_in_run_releases_the_thread_and_closes_the_loop() {
    let (flag, dropped) = DropFlag::new();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        runner::run(async move {
            runner::spawn_local(async move {
                let _flag = flag;
                std::future::pending::<()>().await
            });
            tokio::task::yield_now().await;
            panic!("boom");
        })
    }));
    assert!(caught.is_err());
    assert!(dropped.load(Ordering::SeqCst), "leftover task dropped");
    assert_eq!(runner::run(async { 1 }).unwrap(), 1);
}

// --- close ------------------------------------------------------------------

#[test]
fn close_cancels_leftover_tasks_and_their_drop_runs_before_it_returns() {
    let mut runner = Runner::new();
    let (local_flag, local_dropped) = DropFlag::new();
    let (send_flag, send_dropped) = DropFlag::new();
    runner
        .run(async move {
            runner::spawn_local(async move {
                let _flag = local_flag;
                std::future::pending::<()>().await
            });
            runner::spawn(async move {
                let _flag = send_flag;
                std::future::pending::<()>().await
            });
            tokio::task::yield_now().await;
        })
        .unwrap();
    assert!(!local_dropped.load(Ordering::SeqCst), "alive between runs");
    runner.close();
    assert!(local_dropped.load(Ordering::SeqCst));
    assert!(send_dropped.load(Ordering::SeqCst));
}

#[test]
fn close_cancels_tasks_of_a_multi_thread_runtime() {
    let mut runner = Runner::builder().runtime(|| Ok(multi_thread())).build();
    let (flag, dropped) = DropFlag::new();
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    runner
        .run(async move {
            runner::spawn(async move {
                let _flag = flag;
                notify.notify_one();
                std::future::pending::<()>().await
            });
            started.notified().await;
        })
        .unwrap();
    runner.close();
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn run_closes_the_loop_when_the_main_task_returns() {
    let (flag, dropped) = DropFlag::new();
    runner::run(async move {
        runner::spawn_local(async move {
            let _flag = flag;
            std::future::pending::<()>().await
        });
    })
    .unwrap();
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn close_is_idempotent_and_drop_after_close_is_fine() {
    let mut runner = Runner::new();
    runner.run(async {}).unwrap();
    runner.close();
    runner.close();
    drop(runner);
}

#[test]
fn run_after_close_is_closed_and_does_not_poll_the_future() {
    let mut runner = Runner::new();
    runner.run(async {}).unwrap();
    runner.close();
    let polled = Cell::new(false);
    let out = runner.run(async { polled.set(true) });
    assert!(matches!(out, Err(Error::Closed)));
    assert!(!polled.get());
    assert!(matches!(runner.handle(), Err(Error::Closed)));
}

#[test]
fn a_runner_closed_before_any_run_is_closed() {
    let calls = Rc::new(Cell::new(0));
    let counted = calls.clone();
    let mut runner = Runner::builder()
        .runtime(move || {
            counted.set(counted.get() + 1);
            Ok(current_thread())
        })
        .build();
    runner.close();
    assert!(matches!(runner.run(async {}), Err(Error::Closed)));
    assert!(matches!(runner.handle(), Err(Error::Closed)));
    assert_eq!(calls.get(), 0);
}

#[test]
fn dropping_a_runner_closes_it() {
    let (flag, dropped) = DropFlag::new();
    {
        let mut runner = Runner::new();
        runner
            .run(async move {
                runner::spawn_local(async move {
                    let _flag = flag;
                    std::future::pending::<()>().await
                });
            })
            .unwrap();
    }
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn blocking_work_outliving_the_shutdown_timeout_does_not_hold_close_and_warns() {
    let capture = Capture::new();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let took = capture.during(|| {
        let mut runner = Runner::builder()
            .shutdown_timeout(Duration::from_millis(300))
            .build();
        runner
            .run(async move {
                runner::spawn_blocking(move || {
                    let _ = wait.recv_timeout(Duration::from_secs(30));
                });
            })
            .unwrap();
        let start = Instant::now();
        runner.close();
        start.elapsed()
    });
    release.send(()).unwrap();
    assert!(took < Duration::from_secs(5), "close took {took:?}");
    let warnings: Vec<_> = capture
        .reports()
        .into_iter()
        .filter(|r| r.level <= Level::WARN)
        .collect();
    assert!(
        warnings.iter().any(|e| e
            .message
            .contains("still running after the shutdown timeout")),
        "{warnings:#?}"
    );
}

#[test]
fn blocking_work_that_finishes_in_time_is_not_reported() {
    let capture = Capture::new();
    capture.during(|| {
        let mut runner = Runner::builder()
            .shutdown_timeout(Duration::from_secs(30))
            .build();
        runner
            .run(async {
                runner::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)));
            })
            .unwrap();
        runner.close();
    });
    assert!(capture.reports().iter().all(|r| r.level > Level::WARN));
}

#[test]
fn close_waits_for_blocking_work_within_the_timeout() {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    runner::run(async move {
        runner::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
        });
    })
    .unwrap();
    assert!(done.load(Ordering::SeqCst));
}

#[test]
fn closing_inside_a_running_loop_does_not_panic() {
    let rt = current_thread();
    rt.block_on(async {
        let mut runner = Runner::new();
        runner.handle().unwrap();
        drop(runner);
    });
}

// --- threads ----------------------------------------------------------------

#[test]
fn runners_on_eight_threads_at_once_work() {
    let total = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let total = total.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut runner = Runner::new();
                barrier.wait();
                for _ in 0..10 {
                    let n = runner
                        .run(async move {
                            let tasks: Vec<_> = (0..10)
                                .map(|j| runner::spawn(async move { i * j }))
                                .collect();
                            let mut sum = 0;
                            for t in tasks {
                                sum += t.await.unwrap();
                            }
                            sum
                        })
                        .unwrap();
                    total.fetch_add(n, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // sum over i of 10 runs * i * (0+..+9)
    assert_eq!(
        total.load(Ordering::SeqCst),
        10 * 45 * (0..8).sum::<usize>()
    );
}

#[test]
fn is_debug_follows_the_builder() {
    assert!(Runner::builder().debug(true).build().is_debug());
    assert!(!Runner::builder().debug(false).build().is_debug());
}

#[test]
fn errors_and_handles_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send>() {}
    send_sync::<Error>();
    send::<runner::JoinHandle<u32>>();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::Closed);
    assert!(boxed.to_string().contains("closed"));
}

#[test]
fn a_leftover_task_that_panics_while_cancelled_at_close_is_reported() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("cleanup failed");
        }
    }
    let capture = Capture::new();
    capture.during(|| {
        runner::run(async {
            runner::spawn_local(async {
                let _guard = PanicsOnDrop;
                std::future::pending::<()>().await
            });
            tokio::task::yield_now().await;
        })
        .unwrap();
    });
    let errors: Vec<_> = capture
        .reports()
        .into_iter()
        .filter(|r| r.level == Level::ERROR)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .message
            .contains("while being dropped (cancelled): cleanup failed"),
        "{errors:#?}"
    );
    assert!(errors[0].message.contains("tests/runner.rs"), "{errors:#?}");
}

#[test]
fn spawning_outside_a_runtime_panics_at_the_callers_line() {
    thread_local! {
        static WHERE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        WHERE.with_borrow_mut(|w| *w = at);
    }));
    let line = line!() + 1;
    let caught = catch_unwind(|| drop(runner::spawn(async {})));
    std::panic::set_hook(previous);
    assert!(caught.is_err(), "tokio::spawn panics outside a runtime");
    let at = WHERE.with_borrow(Clone::clone);
    assert_eq!(at, Some(format!("tests/runner.rs:{line}")));
}

#[test]
fn the_main_task_may_block_in_place_on_a_multi_thread_runtime() {
    // As the body of `#[tokio::main(flavor = "multi_thread")]` may.
    let mut runner = Runner::builder().runtime(|| Ok(multi_thread())).build();
    let out = runner.run(async {
        let local = runner::spawn_local(async { 1 });
        let blocked = tokio::task::block_in_place(|| 2);
        local.await.unwrap() + blocked
    });
    assert_eq!(out.unwrap(), 3);
}
