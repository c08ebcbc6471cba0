//! Debug mode's lost-waker report: a task whose poll returned `Pending`, that
//! was not woken, and of whose waker no clone is left can never run again;
//! it is reported at once, and never for a task something can still wake.

mod support;

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use runner::{Error, LostPanic, Runner};
use support::Capture;
use tracing::Level;

fn debug_runner() -> Runner {
    Runner::builder().debug(true).handle_sigint(false).build()
}

fn multi_thread_runner() -> Runner {
    Runner::builder()
        .debug(true)
        .handle_sigint(false)
        .runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        })
        .build()
}

/// Returns `Pending` forever and never keeps the waker.
fn forgets_its_waker() -> impl Future<Output = ()> {
    poll_fn(|_| Poll::Pending)
}

/// Returns `Pending` forever, leaving a clone of its waker in `slot`.
fn parks_its_waker_in(slot: Arc<Mutex<Option<Waker>>>) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        *slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    })
}

fn lost_waker_reports(capture: &Capture) -> Vec<support::Report> {
    capture.reports_containing("lost waker")
}

#[test]
fn a_task_that_keeps_no_waker_is_reported_at_once_with_its_name_and_spawn_site() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let line = capture.during(|| {
        runner.run(async {
            let builder = runner::task::Builder::new().name("forgetful");
            let (task, line) = (builder.spawn_local(forgets_its_waker()), line!());
            tokio::task::yield_now().await;
            // Reported by the time the task's first poll ended.
            assert_eq!(lost_waker_reports(&capture).len(), 1);
            let dump = runner::task::dump();
            let entry = dump.iter().find(|t| t.name() == "forgetful").unwrap();
            assert!(entry.lost_waker(), "{dump}");
            assert!(dump.to_string().contains("LOST WAKER"), "{dump}");
            task.unwrap().abort();
            line
        })
    });
    let line = line.unwrap();
    let reports = lost_waker_reports(&capture);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].level, Level::WARN);
    assert_eq!(reports[0].field("task"), "forgetful");
    assert!(reports[0].points_at(file!(), line), "{reports:#?}");
    assert!(reports[0].message.contains("cx.waker()"), "{reports:#?}");
}

#[test]
fn a_waker_dropped_later_without_a_wake_is_reported_when_it_is_dropped() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture
        .during(|| {
            runner.run(async {
                let slot = Arc::new(Mutex::new(None));
                let task = runner::spawn_local(parks_its_waker_in(slot.clone()));
                tokio::task::yield_now().await;
                assert!(slot.lock().unwrap().is_some(), "polled once");
                assert_eq!(lost_waker_reports(&capture).len(), 0, "a clone is alive");
                drop(slot.lock().unwrap().take());
                assert_eq!(
                    lost_waker_reports(&capture).len(),
                    1,
                    "reported at the drop"
                );
                task.abort();
            })
        })
        .unwrap();
}

#[test]
fn a_waker_woken_after_the_poll_is_not_lost() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture
        .during(|| {
            runner.run(async {
                let slot = Arc::new(Mutex::new(None));
                let s = slot.clone();
                let mut polls = 0;
                let task = runner::spawn_local(poll_fn(move |cx| {
                    polls += 1;
                    if polls == 2 {
                        return Poll::Ready(());
                    }
                    *s.lock().unwrap() = Some(cx.waker().clone());
                    Poll::Pending
                }));
                tokio::task::yield_now().await;
                let waker = slot.lock().unwrap().take().unwrap();
                waker.wake();
                task.await.unwrap();
            })
        })
        .unwrap();
    assert_eq!(lost_waker_reports(&capture).len(), 0);
}

#[test]
fn a_lost_waker_on_a_worker_thread_is_reported() {
    let mut runner = multi_thread_runner();
    runner
        .run(async {
            let (polled_tx, polled) = tokio::sync::oneshot::channel();
            let task = runner::task::Builder::new()
                .name("on a worker")
                .spawn(async move {
                    let _ = polled_tx.send(());
                    forgets_its_waker().await
                })
                .unwrap();
            polled.await.unwrap();
            // The report is made on the worker, after the poll ends.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let dump = runner::task::dump();
                if dump
                    .iter()
                    .any(|t| t.name() == "on a worker" && t.lost_waker())
                {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{dump}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            task.abort();
        })
        .unwrap();
}

#[test]
fn cancel_main_ends_a_run_whose_main_task_lost_its_waker_naming_the_run_line() {
    let capture = Capture::new();
    let mut runner = Runner::builder()
        .debug(true)
        .handle_sigint(false)
        .lost_panic(LostPanic::CancelMain)
        .build();
    let (result, line) = capture.during(|| (runner.run(forgets_its_waker()), line!()));
    match result {
        Err(Error::LostWaker { task, spawned_at }) => {
            assert_eq!(task, "main");
            assert_eq!((spawned_at.file(), spawned_at.line()), (file!(), line));
        }
        other => panic!("expected LostWaker, got {other:?}"),
    }
    let reports = lost_waker_reports(&capture);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].field("task"), "main");
    assert!(reports[0].points_at(file!(), line), "{reports:#?}");
}

#[test]
fn the_report_says_what_ends_such_a_task_under_either_policy() {
    // The default policy (LostPanic::Report) does not cancel a main task
    // that lost its waker: its run hangs. The report must not say otherwise.
    let capture = Capture::new();
    capture
        .during(|| {
            debug_runner().run(async {
                let task = runner::spawn_local(forgets_its_waker());
                tokio::task::yield_now().await;
                task.abort();
            })
        })
        .unwrap();
    let reports = lost_waker_reports(&capture);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let message = &reports[0].message;
    assert!(!message.contains("will only be cancelled"), "{message}");
    assert!(message.contains("until it is dropped"), "{message}");
    assert!(message.contains("the run hangs"), "{message}");
    assert!(message.contains("LostPanic::CancelMain"), "{message}");
}

#[test]
fn nothing_is_reported_outside_debug_mode() {
    let capture = Capture::new();
    let mut runner = Runner::builder().debug(false).handle_sigint(false).build();
    capture
        .during(|| {
            runner.run(async {
                let task = runner::spawn_local(forgets_its_waker());
                tokio::task::yield_now().await;
                task.abort();
            })
        })
        .unwrap();
    assert_eq!(lost_waker_reports(&capture).len(), 0);
}

#[test]
fn wakers_dropped_with_a_cancelled_or_closed_task_are_not_lost() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture.during(|| {
        runner
            .run(async {
                let aborted = runner::spawn_local(async {
                    tokio::time::sleep(Duration::from_secs(3600)).await
                });
                runner::spawn_local(async { tokio::sync::Notify::new().notified().await });
                tokio::task::yield_now().await;
                aborted.abort();
                tokio::task::yield_now().await;
            })
            .unwrap();
        runner.close();
    });
    assert_eq!(lost_waker_reports(&capture).len(), 0);
}

// No false reports: every kind of wake-up Tokio and runner offer keeps a
// clone of the waker until it wakes the task.

/// Runs `main` on `runner` in debug mode and asserts no lost-waker report.
fn assert_no_report<F: Future>(mut runner: Runner, main: F) {
    let capture = Capture::new();
    let _default = tracing::subscriber::set_default(capture.subscriber());
    runner.run(main).unwrap();
    runner.close();
    let reports = lost_waker_reports(&capture);
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn timers_are_not_lost_wakers() {
    assert_no_report(debug_runner(), async {
        let t = runner::spawn_local(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            for _ in 0..3 {
                interval.tick().await;
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
        });
        t.await.unwrap();
    });
}

#[test]
fn channels_and_notify_are_not_lost_wakers() {
    assert_no_report(debug_runner(), async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let (otx, orx) = tokio::sync::oneshot::channel();
        let (wtx, mut wrx) = tokio::sync::watch::channel(0);
        let notify = Arc::new(tokio::sync::Notify::new());
        let n = notify.clone();
        let receiver = runner::spawn_local(async move {
            let a = rx.recv().await.unwrap();
            let b = orx.await.unwrap();
            wrx.changed().await.unwrap();
            n.notified().await;
            a + b + *wrx.borrow()
        });
        for _ in 0..2 {
            tokio::task::yield_now().await;
        }
        tx.send(1).await.unwrap();
        tokio::task::yield_now().await;
        otx.send(2).unwrap();
        tokio::task::yield_now().await;
        wtx.send(3).unwrap();
        tokio::task::yield_now().await;
        notify.notify_one();
        assert_eq!(receiver.await.unwrap(), 6);
        // A sender dropped wakes its receiver.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let waiting = runner::spawn_local(rx);
        tokio::task::yield_now().await;
        drop(tx);
        assert!(waiting.await.unwrap().is_err());
    });
}

#[test]
fn join_handles_join_sets_and_blocking_work_are_not_lost_wakers() {
    assert_no_report(debug_runner(), async {
        let tokio_task = tokio::spawn(async { tokio::task::yield_now().await });
        let blocking = runner::spawn_blocking(|| std::thread::sleep(Duration::from_millis(5)));
        let inner = runner::spawn(async { tokio::time::sleep(Duration::from_millis(2)).await });
        let outer = runner::spawn_local(async move {
            tokio_task.await.unwrap();
            blocking.await.unwrap();
            inner.await.unwrap();
            let mut set = tokio::task::JoinSet::new();
            for i in 0..4u64 {
                set.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i)).await;
                    i
                });
            }
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.unwrap();
            }
            sum
        });
        assert_eq!(outer.await.unwrap(), 6);
    });
}

#[test]
fn yield_now_and_select_are_not_lost_wakers() {
    assert_no_report(debug_runner(), async {
        let t = runner::spawn_local(async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::select! {
                _ = rx => unreachable!("the sender is kept"),
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
            }
            let notify = tokio::sync::Notify::new();
            tokio::select! {
                biased;
                _ = notify.notified() => unreachable!("never notified"),
                _ = tokio::task::yield_now() => {}
            }
        });
        t.await.unwrap();
    });
}

#[test]
fn io_is_not_a_lost_waker() {
    assert_no_report(debug_runner(), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runner::spawn_local(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0; 5];
            socket.read_exact(&mut buf).await.unwrap();
            socket.write_all(&buf).await.unwrap();
        });
        let client = runner::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"hello").await.unwrap();
            let mut buf = [0; 5];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        });
        assert_eq!(&client.await.unwrap(), b"hello");
        server.await.unwrap();
    });
}

#[test]
fn a_multi_thread_runtime_gives_no_false_report() {
    assert_no_report(multi_thread_runner(), async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut producers = Vec::new();
        for i in 0..8u64 {
            let tx = tx.clone();
            producers.push(runner::spawn(async move {
                for j in 0..50 {
                    tx.send(i * j).await.unwrap();
                    if j % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        drop(tx);
        let consumer = runner::spawn(async move {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        for p in producers {
            p.await.unwrap();
        }
        assert_eq!(consumer.await.unwrap(), 400);
        tokio::time::sleep(Duration::from_millis(2)).await;
    });
}
