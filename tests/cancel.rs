//! Cancellation you can clean up after: a task that listens
//! (`task::cancelled()`, `task::is_cancelled()`) is woken by a request and
//! may await its cleanup within the cancel grace; any other task is dropped
//! at once. Requests come from `JoinHandle::cancel` and from `close`, on
//! both runtime flavours.

mod support;

use std::time::Duration;

use runner::Runner;
use support::Capture;
use support::flavors::{FLAVORS, Flavor, LONG, Log, OnDrop};
use tokio::sync::{mpsc, oneshot};

fn runner_with(flavor: Flavor, grace: Duration, debug: bool) -> Runner {
    flavor.build(
        Runner::builder()
            .handle_sigint(false)
            .debug(debug)
            .cancel_grace(grace),
    )
}

fn runner(flavor: Flavor) -> Runner {
    runner_with(flavor, LONG, false)
}

/// A task that listens, then awaits some cleanup and returns a value.
async fn cleans_up(log: Log, started: oneshot::Sender<()>) -> &'static str {
    let _guard = OnDrop(log.clone(), "dropped");
    // Listening before saying so: a request that comes first drops it.
    assert!(!runner::task::is_cancelled());
    let _ = started.send(());
    runner::task::cancelled().await;
    log.push("cancelled");
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    log.push("cleaned up");
    "clean"
}

#[test]
fn a_task_that_listens_awaits_its_cleanup_and_its_handle_gives_its_output() {
    for flavor in FLAVORS {
        let log = Log::default();
        let out = runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let (started, ready) = oneshot::channel();
                    let task = runner::spawn(cleans_up(log, started));
                    ready.await.unwrap();
                    task.cancel();
                    task.await
                }
            })
            .unwrap();
        assert_eq!(out.unwrap(), "clean", "{flavor:?}");
        assert_eq!(
            log.get(),
            ["cancelled", "cleaned up", "dropped"],
            "{flavor:?}"
        );
    }
}

#[test]
fn a_task_that_never_listens_is_dropped_at_once_by_cancel() {
    for flavor in FLAVORS {
        let log = Log::default();
        let err = runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let (started, ready) = oneshot::channel::<()>();
                    let task = runner::spawn(async move {
                        let _guard = OnDrop(log, "dropped");
                        let _ = started.send(());
                        tokio::time::sleep(LONG).await;
                    });
                    ready.await.unwrap();
                    task.cancel();
                    task.await
                }
            })
            .unwrap();
        assert!(err.unwrap_err().is_cancelled(), "{flavor:?}");
        assert_eq!(log.get(), ["dropped"], "{flavor:?}");
    }
}

#[test]
fn is_cancelled_is_false_until_a_request_and_true_after() {
    for flavor in FLAVORS {
        let seen = runner(flavor)
            .run(async {
                let (asked, ask) = oneshot::channel::<()>();
                let (checked, check) = oneshot::channel();
                let task = runner::spawn(async move {
                    let before = runner::task::is_cancelled();
                    let _ = checked.send(());
                    let _ = ask.await;
                    (before, runner::task::is_cancelled())
                });
                check.await.unwrap();
                task.cancel();
                let _ = asked.send(());
                task.await.unwrap()
            })
            .unwrap();
        assert_eq!(seen, (false, true), "{flavor:?}");
    }
}

#[test]
fn outside_a_runner_task_nothing_is_cancelled() {
    assert!(!runner::task::is_cancelled());
    let seen = runner(Flavor::CurrentThread)
        .run(async {
            // A raw Tokio task is no runner task.
            tokio::spawn(async { runner::task::is_cancelled() })
                .await
                .unwrap()
        })
        .unwrap();
    assert!(!seen);
}

#[test]
fn a_task_that_listens_but_outlives_its_grace_is_dropped_and_reported() {
    for flavor in FLAVORS {
        let capture = Capture::new();
        let log = Log::default();
        let err = capture.during(|| {
            runner_with(flavor, Duration::from_millis(20), true)
                .run({
                    let log = log.clone();
                    async move {
                        let (started, ready) = oneshot::channel::<()>();
                        let task = runner::task::Builder::new()
                            .name("stubborn")
                            .spawn(async move {
                                let _guard = OnDrop(log.clone(), "dropped");
                                assert!(!runner::task::is_cancelled());
                                let _ = started.send(());
                                runner::task::cancelled().await;
                                log.push("cancelled");
                                tokio::time::sleep(LONG).await;
                                log.push("never");
                            })
                            .unwrap();
                        ready.await.unwrap();
                        task.cancel();
                        task.await
                    }
                })
                .unwrap()
        });
        assert!(err.unwrap_err().is_cancelled(), "{flavor:?}");
        assert_eq!(log.get(), ["cancelled", "dropped"], "{flavor:?}");
        let reports = capture.reports_containing("did not finish within the cancel grace");
        assert_eq!(reports.len(), 1, "{flavor:?}");
        assert_eq!(reports[0].field("task"), "stubborn");
    }
}

#[test]
fn close_awaits_the_cleanup_of_tasks_that_listen() {
    for flavor in FLAVORS {
        let log = Log::default();
        let mut runner = runner(flavor);
        runner
            .run({
                let log = log.clone();
                async move {
                    let (started, ready) = oneshot::channel();
                    drop(runner::spawn(cleans_up(log, started)));
                    ready.await.unwrap();
                }
            })
            .unwrap();
        assert!(
            log.get().is_empty(),
            "{flavor:?}: still waiting between runs"
        );
        runner.close();
        assert_eq!(
            log.get(),
            ["cancelled", "cleaned up", "dropped"],
            "{flavor:?}"
        );
    }
}

#[test]
fn close_drops_tasks_that_never_listen_at_once_and_does_not_wait_for_them() {
    for flavor in FLAVORS {
        let log = Log::default();
        let mut runner = runner(flavor);
        runner
            .run({
                let log = log.clone();
                async move {
                    // The producer never listens and holds the sender; the
                    // collector listens and drains until every sender is gone.
                    let (tx, mut rx) = mpsc::channel::<u32>(1);
                    let (started, ready) = oneshot::channel::<()>();
                    drop(runner::spawn({
                        let log = log.clone();
                        async move {
                            let _guard = OnDrop(log, "producer dropped");
                            let _tx = tx;
                            let _ = started.send(());
                            tokio::time::sleep(LONG).await;
                        }
                    }));
                    let (listening, listens) = oneshot::channel::<()>();
                    drop(runner::spawn(async move {
                        assert!(!runner::task::is_cancelled());
                        let _ = listening.send(());
                        runner::task::cancelled().await;
                        while rx.recv().await.is_some() {}
                        log.push("collector drained");
                    }));
                    ready.await.unwrap();
                    listens.await.unwrap();
                }
            })
            .unwrap();
        let start = std::time::Instant::now();
        runner.close();
        assert!(
            start.elapsed() < LONG,
            "{flavor:?}: close waited for a task"
        );
        assert_eq!(
            log.get(),
            ["producer dropped", "collector drained"],
            "{flavor:?}"
        );
    }
}

#[test]
fn a_task_spawned_during_close_is_not_cancelled_by_it() {
    for flavor in FLAVORS {
        let log = Log::default();
        let mut runner = runner(flavor);
        runner
            .run({
                let log = log.clone();
                async move {
                    let (started, ready) = oneshot::channel::<()>();
                    drop(runner::spawn(async move {
                        assert!(!runner::task::is_cancelled());
                        let _ = started.send(());
                        runner::task::cancelled().await;
                        let helper = runner::spawn({
                            let log = log.clone();
                            async move {
                                tokio::task::yield_now().await;
                                log.push("helper ran");
                                5
                            }
                        });
                        let five = helper.await.unwrap();
                        log.push(format!("cleanup got {five}"));
                    }));
                    ready.await.unwrap();
                }
            })
            .unwrap();
        runner.close();
        assert_eq!(log.get(), ["helper ran", "cleanup got 5"], "{flavor:?}");
    }
}

#[test]
fn a_zero_grace_drops_even_tasks_that_listen_at_once() {
    for flavor in FLAVORS {
        let log = Log::default();
        let err = runner_with(flavor, Duration::ZERO, false)
            .run({
                let log = log.clone();
                async move {
                    let (started, ready) = oneshot::channel();
                    let task = runner::spawn(cleans_up(log, started));
                    ready.await.unwrap();
                    task.cancel();
                    task.await
                }
            })
            .unwrap();
        assert!(err.unwrap_err().is_cancelled(), "{flavor:?}");
        assert_eq!(log.get(), ["dropped"], "{flavor:?}");
    }
}

#[test]
fn abort_drops_a_task_that_listens_at_once() {
    for flavor in FLAVORS {
        let log = Log::default();
        let err = runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let (started, ready) = oneshot::channel();
                    let task = runner::spawn(cleans_up(log, started));
                    ready.await.unwrap();
                    task.abort();
                    task.await
                }
            })
            .unwrap();
        assert!(err.unwrap_err().is_cancelled(), "{flavor:?}");
        assert_eq!(log.get(), ["dropped"], "{flavor:?}");
    }
}

#[test]
fn a_panic_during_cleanup_at_close_is_reported_as_lost() {
    for flavor in FLAVORS {
        let capture = Capture::new();
        capture.during(|| {
            // Debug mode: reports from the runtime's workers reach the
            // subscriber of the thread that called `run`.
            let mut runner = runner_with(flavor, LONG, true);
            runner
                .run(async {
                    let (started, ready) = oneshot::channel::<()>();
                    drop(runner::spawn(async move {
                        assert!(!runner::task::is_cancelled());
                        let _ = started.send(());
                        runner::task::cancelled().await;
                        tokio::task::yield_now().await;
                        panic!("cleanup failed");
                    }));
                    ready.await.unwrap();
                })
                .unwrap();
            runner.close();
        });
        let reports = capture.reports_containing("cleanup failed");
        assert_eq!(reports.len(), 1, "{flavor:?}");
    }
}
