//! Debug mode's await edges: a task awaiting a runner `JoinHandle` shows in
//! the dump as awaiting that task, and tasks that await each other in a
//! cycle (a deadlock) are reported once, each with its spawn site.

mod support;

use std::time::Duration;

use runner::task::{Builder, dump};
use runner::{JoinHandle, Runner};
use support::Capture;
use tokio::sync::oneshot;
use tracing::Level;

const DEADLOCK: &str = "deadlock";

fn debug_runner() -> Runner {
    Runner::builder()
        .debug(true)
        .handle_sigint(false)
        // No poll here is slow; a loaded machine must not make one look so.
        .slow_poll_threshold(Duration::from_secs(60))
        .build()
}

/// Yields until `done` says so (at most 100 times).
async fn yield_until(mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// A task that awaits the handle it is sent, spawned at the caller's line.
#[track_caller]
fn awaits_what_it_is_sent(name: &str) -> (JoinHandle<()>, oneshot::Sender<JoinHandle<()>>) {
    let (tx, rx) = oneshot::channel::<JoinHandle<()>>();
    let task = async move {
        let handle = rx.await.unwrap();
        let _ = handle.await;
    };
    (Builder::new().name(name).spawn_local(task).unwrap(), tx)
}

#[test]
fn two_tasks_awaiting_each_other_are_reported_once_with_their_sites() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    let lines = capture.during(|| {
        runner.run(async {
            let ((a, to_a), line_a) = (awaits_what_it_is_sent("a"), line!());
            let ((b, to_b), line_b) = (awaits_what_it_is_sent("b"), line!());
            let (cancel_a, cancel_b) = (a.cancel_handle(), b.cancel_handle());
            to_a.send(b).unwrap();
            to_b.send(a).unwrap();
            yield_until(|| !capture.reports_containing(DEADLOCK).is_empty()).await;
            // More turns of the loop, polls and wake-ups change nothing.
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            cancel_a.cancel();
            cancel_b.cancel();
            (line_a, line_b)
        })
    });
    let (line_a, line_b) = lines.unwrap();
    let reports = capture.reports_containing(DEADLOCK);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let report = &reports[0];
    assert_eq!(report.level, Level::WARN);
    let cycle = report.field("cycle");
    for (name, line) in [("a", line_a), ("b", line_b)] {
        let site = format!("`{name}` spawned at {}:{line}:", file!());
        assert!(cycle.contains(&site), "{site} in {report:#?}");
        assert!(report.message.contains(&site), "{site} in {report:#?}");
    }
    let mut tasks: Vec<&str> = report.field("tasks").split(", ").collect();
    tasks.sort_unstable();
    assert_eq!(tasks, ["a", "b"]);
}

#[test]
fn a_cycle_of_three_names_all_three_in_await_order() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture
        .during(|| {
            runner.run(async {
                let (a, to_a) = awaits_what_it_is_sent("a");
                let (b, to_b) = awaits_what_it_is_sent("b");
                let (c, to_c) = awaits_what_it_is_sent("c");
                let cancels = [a.cancel_handle(), b.cancel_handle(), c.cancel_handle()];
                // a awaits b, b awaits c, c awaits a.
                to_a.send(b).unwrap();
                to_b.send(c).unwrap();
                to_c.send(a).unwrap();
                yield_until(|| !capture.reports_containing(DEADLOCK).is_empty()).await;
                cancels.iter().for_each(|c| c.cancel());
            })
        })
        .unwrap();
    let reports = capture.reports_containing(DEADLOCK);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let cycle = reports[0].field("cycle");
    let at = |name: &str| cycle.find(&format!("`{name}` spawned at")).unwrap();
    // The cycle starts with whichever task closed it; the order is a's:
    // one rotation of a, b, c.
    let mut order = [("a", at("a")), ("b", at("b")), ("c", at("c"))];
    order.sort_by_key(|(_, at)| *at);
    let order: String = order.iter().map(|(name, _)| *name).collect();
    assert!(["abc", "bca", "cab"].contains(&order.as_str()), "{cycle}");
}

#[test]
fn an_await_shows_in_the_dump_with_the_awaited_task_and_its_id() {
    let mut runner = debug_runner();
    runner
        .run(async {
            let (release, released) = oneshot::channel::<()>();
            let worker = Builder::new().name("worker").spawn_local(released).unwrap();
            let worker_id = worker.id();
            let waiter = Builder::new()
                .name("waiter")
                .spawn_local(async move { worker.await.unwrap().unwrap() })
                .unwrap();
            tokio::task::yield_now().await;
            let dump = dump();
            let text = dump.to_string();
            let line = text.lines().find(|l| l.contains("`waiter`")).unwrap();
            assert!(
                line.ends_with(&format!(", awaiting `worker` (id {worker_id})")),
                "{text}"
            );
            let waiter_entry = dump.iter().find(|t| t.name() == "waiter").unwrap();
            let awaited: Vec<&str> = waiter_entry
                .awaiting()
                .map(|i| dump.iter().nth(i).unwrap().name())
                .collect();
            assert_eq!(awaited, ["worker"], "{dump}");
            // The await is over once the task it awaited has finished.
            release.send(()).unwrap();
            waiter.await.unwrap();
            let dump = runner::task::dump();
            assert!(!dump.to_string().contains("awaiting"), "{dump}");
        })
        .unwrap();
}

#[test]
fn a_chain_of_awaits_and_an_await_given_up_are_no_deadlock() {
    let capture = Capture::new();
    let mut runner = debug_runner();
    capture
        .during(|| {
            runner.run(async {
                // A chain: a awaits b, b awaits c; c finishes.
                let (finish_c, c_waits) = oneshot::channel::<()>();
                let c = Builder::new().name("c").spawn_local(c_waits).unwrap();
                let b = Builder::new()
                    .name("b")
                    .spawn_local(async move { c.await.unwrap().unwrap() })
                    .unwrap();
                let a = Builder::new()
                    .name("a")
                    .spawn_local(async move { b.await.unwrap() })
                    .unwrap();
                tokio::task::yield_now().await;
                finish_c.send(()).unwrap();
                a.await.unwrap();

                // An await given up: `giver` stops awaiting `taker` (its select
                // completes through the other branch) and waits on; then `taker`
                // awaits `giver`. No cycle: giver no longer awaits taker.
                let (to_giver, giver_gets) = oneshot::channel::<JoinHandle<()>>();
                let (give_up, given_up) = oneshot::channel::<()>();
                let (_never, forever) = oneshot::channel::<()>();
                let giver = Builder::new().name("giver").spawn_local(async move {
                    let mut taker = giver_gets.await.unwrap();
                    tokio::select! {
                        biased;
                        _ = given_up => {}
                        _ = &mut taker => {}
                    }
                    let _ = forever.await;
                    drop(taker);
                });
                let giver = giver.unwrap();
                let (to_taker, taker_gets) = oneshot::channel::<JoinHandle<()>>();
                let taker = Builder::new().name("taker").spawn_local(async move {
                    let _ = taker_gets.await.unwrap().await;
                });
                let taker = taker.unwrap();
                let cancels = [giver.cancel_handle(), taker.cancel_handle()];
                to_giver.send(taker).unwrap();
                tokio::task::yield_now().await;
                give_up.send(()).unwrap();
                tokio::task::yield_now().await;
                to_taker.send(giver).unwrap();
                yield_until(|| {
                    let dump = dump();
                    let taker = dump.iter().find(|t| t.name() == "taker");
                    taker.is_some_and(|t| t.awaiting().count() == 1)
                })
                .await;
                cancels.iter().for_each(|c| c.cancel());
            })
        })
        .unwrap();
    let reports = capture.reports_containing(DEADLOCK);
    assert!(reports.is_empty(), "{reports:#?}");
}
