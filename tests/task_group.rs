//! `TaskGroup`: the first failure cancels the other children, `join` waits
//! for every child and reports every error, a child's panic is resumed from
//! `join`, and children never outlive their group; on both runtime flavours.

mod support;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use runner::{LostPanic, Runner, TaskGroup};
use support::Capture;
use support::flavors::{FLAVORS, Flavor, LONG, Log, OnDrop};
use tokio::sync::oneshot;

fn runner(flavor: Flavor) -> Runner {
    flavor.build(
        Runner::builder()
            .handle_sigint(false)
            .cancel_grace(LONG)
            .lost_panic(LostPanic::CancelMain),
    )
}

/// A child that listens, says it does, and on cancellation awaits its
/// cleanup and returns `result`.
async fn listener(
    log: Log,
    name: &'static str,
    listening: oneshot::Sender<()>,
    result: Result<(), String>,
) -> Result<(), String> {
    assert!(!runner::task::is_cancelled());
    let _ = listening.send(());
    runner::task::cancelled().await;
    tokio::task::yield_now().await;
    log.push(format!("{name} cleaned up"));
    result
}

#[test]
fn a_group_whose_children_all_succeed_joins_ok() {
    for flavor in FLAVORS {
        let joined = runner(flavor)
            .run(async {
                let group = TaskGroup::<String>::new();
                for i in 0..10 {
                    group.spawn(async move {
                        tokio::task::yield_now().await;
                        let _ = i;
                        Ok(())
                    });
                }
                group.join().await
            })
            .unwrap();
        assert!(joined.is_ok(), "{flavor:?}");
    }
}

#[test]
fn the_first_failure_cancels_the_others_and_join_reports_every_error() {
    for flavor in FLAVORS {
        let log = Log::default();
        let errors = runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let group = TaskGroup::new();
                    let (a, a_listens) = oneshot::channel();
                    group.spawn(listener(log.clone(), "a", a, Err("a's cleanup".into())));
                    let (b, b_listens) = oneshot::channel();
                    group.spawn(listener(log.clone(), "b", b, Ok(())));
                    let (c_started, c_runs) = oneshot::channel::<()>();
                    group.spawn({
                        let log = log.clone();
                        async move {
                            let _guard = OnDrop(log, "c dropped");
                            let _ = c_started.send(());
                            tokio::time::sleep(LONG).await;
                            Ok(())
                        }
                    });
                    a_listens.await.unwrap();
                    b_listens.await.unwrap();
                    c_runs.await.unwrap();
                    group.spawn(async { Err("boom".to_string()) });
                    group.join().await.unwrap_err().into_errors()
                }
            })
            .unwrap();
        assert_eq!(errors[0], "boom", "{flavor:?}: the first failure first");
        assert_eq!(errors.len(), 2, "{flavor:?}: {errors:?}");
        assert!(errors.contains(&"a's cleanup".to_string()), "{flavor:?}");
        let mut seen = log.get();
        seen.sort();
        assert_eq!(
            seen,
            ["a cleaned up", "b cleaned up", "c dropped"],
            "{flavor:?}"
        );
    }
}

#[test]
fn a_childs_panic_is_resumed_from_join_after_the_others_ended_and_is_never_lost() {
    for flavor in FLAVORS {
        let capture = Capture::new();
        let log = Log::default();
        let mut runner = runner(flavor);
        let panicked = capture.during(|| {
            runner.run({
                let log = log.clone();
                async move {
                    let group = TaskGroup::<String>::new();
                    let (listening, listens) = oneshot::channel();
                    group.spawn(listener(log.clone(), "sibling", listening, Ok(())));
                    listens.await.unwrap();
                    group.spawn(async { panic!("child panicked") });
                    AssertUnwindSafe(group.join()).catch_unwind().await
                }
            })
        });
        // `LostPanic::CancelMain` did not stop the run: the panic is the
        // group's.
        let payload = panicked.unwrap().unwrap_err();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"child panicked"),
            "{flavor:?}"
        );
        assert_eq!(log.get(), ["sibling cleaned up"], "{flavor:?}");
        assert!(
            capture.reports_containing("child panicked").is_empty(),
            "{flavor:?}"
        );
        assert_eq!(runner::__private::lost_panics(&runner), 0, "{flavor:?}");
    }
}

#[test]
fn cancel_asks_every_child_and_join_still_waits_for_them() {
    for flavor in FLAVORS {
        let log = Log::default();
        let joined = runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let group = TaskGroup::<String>::new();
                    let (listening, listens) = oneshot::channel();
                    group.spawn(listener(log.clone(), "child", listening, Ok(())));
                    listens.await.unwrap();
                    group.cancel();
                    let joined = group.join().await;
                    log.push("joined");
                    joined
                }
            })
            .unwrap();
        assert!(joined.is_ok(), "{flavor:?}");
        assert_eq!(log.get(), ["child cleaned up", "joined"], "{flavor:?}");
    }
}

#[test]
fn a_child_spawned_into_a_cancelled_group_never_runs() {
    for flavor in FLAVORS {
        let log = Log::default();
        runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let group = TaskGroup::<()>::new();
                    group.cancel();
                    group.spawn({
                        let log = log.clone();
                        async move {
                            log.push("ran");
                            Ok(())
                        }
                    });
                    group.join().await.unwrap();
                }
            })
            .unwrap();
        assert!(log.get().is_empty(), "{flavor:?}");
    }
}

#[test]
fn a_request_to_the_task_awaiting_join_passes_to_the_children() {
    for flavor in FLAVORS {
        let log = Log::default();
        let out = runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    let (joining, joins) = oneshot::channel::<()>();
                    // On the loop's thread: once it says it joins, it is in
                    // `join` (the same poll), so it listens.
                    let parent = runner::spawn_local({
                        let log = log.clone();
                        async move {
                            let group = TaskGroup::<String>::new();
                            let (listening, listens) = oneshot::channel();
                            group.spawn(listener(log.clone(), "child", listening, Ok(())));
                            listens.await.unwrap();
                            let _ = joining.send(());
                            let joined = group.join().await;
                            log.push("parent joined");
                            joined.is_ok()
                        }
                    });
                    joins.await.unwrap();
                    parent.cancel();
                    parent.await
                }
            })
            .unwrap();
        assert!(
            out.unwrap(),
            "{flavor:?}: the parent ended normally, within its grace"
        );
        assert_eq!(
            log.get(),
            ["child cleaned up", "parent joined"],
            "{flavor:?}"
        );
    }
}

#[test]
fn close_cancels_a_group_being_joined_and_waits_for_its_children() {
    for flavor in FLAVORS {
        let log = Log::default();
        let mut runner = runner(flavor);
        runner
            .run({
                let log = log.clone();
                async move {
                    let (joining, joins) = oneshot::channel::<()>();
                    drop(runner::spawn_local({
                        let log = log.clone();
                        async move {
                            let group = TaskGroup::<String>::new();
                            let (listening, listens) = oneshot::channel();
                            group.spawn(listener(log.clone(), "child", listening, Ok(())));
                            listens.await.unwrap();
                            let _ = joining.send(());
                            let _ = group.join().await;
                            log.push("parent joined");
                        }
                    }));
                    joins.await.unwrap();
                }
            })
            .unwrap();
        runner.close();
        assert_eq!(
            log.get(),
            ["child cleaned up", "parent joined"],
            "{flavor:?}"
        );
    }
}

#[test]
fn dropping_the_group_or_the_join_future_drops_every_child() {
    for flavor in FLAVORS {
        let log = Log::default();
        runner(flavor)
            .run({
                let log = log.clone();
                async move {
                    for how in ["group", "join"] {
                        let group = TaskGroup::<()>::new();
                        let (started, runs) = oneshot::channel::<()>();
                        let child = group.spawn({
                            let log = log.clone();
                            async move {
                                let _guard = OnDrop(log, "child dropped");
                                let _ = started.send(());
                                tokio::time::sleep(LONG).await;
                                Ok(())
                            }
                        });
                        runs.await.unwrap();
                        match how {
                            "group" => drop(group),
                            _ => {
                                let join = group.join();
                                let _ = tokio::time::timeout(Duration::from_millis(1), join).await;
                            }
                        }
                        while !child.is_finished() {
                            tokio::task::yield_now().await;
                        }
                    }
                }
            })
            .unwrap();
        assert_eq!(log.get(), ["child dropped", "child dropped"], "{flavor:?}");
    }
}

#[test]
fn local_children_need_not_be_send() {
    let errors = runner(Flavor::CurrentThread)
        .run(async {
            let group = TaskGroup::new();
            let shared = std::rc::Rc::new(3);
            group.spawn_local(async move { Err(*shared) });
            group.join().await.unwrap_err().into_errors()
        })
        .unwrap();
    assert_eq!(errors, [3]);
}

#[test]
fn group_error_displays_every_error_and_its_source_is_the_first() {
    let err = runner(Flavor::CurrentThread)
        .run(async {
            let group = TaskGroup::new();
            let (listening, listens) = oneshot::channel::<()>();
            group.spawn(async move {
                let _ = listening.send(());
                runner::task::cancelled().await;
                Err(std::io::Error::other("second"))
            });
            listens.await.unwrap();
            group.spawn(async { Err(std::io::Error::other("first")) });
            group.join().await.unwrap_err()
        })
        .unwrap();
    assert_eq!(
        err.to_string(),
        "2 tasks of the group failed: first; second"
    );
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "first");
}
