//! `runner::task::dump()`: the live tasks of the calling runner, with name,
//! spawn site, parent and poll state, and what it says when it cannot see.

use std::sync::mpsc;
use std::time::Duration;

use runner::Runner;
use runner::task::{Builder, TaskState, dump};
use tokio::sync::Notify;

fn debug_runner() -> Runner {
    Runner::builder().debug(true).handle_sigint(false).build()
}

/// A future that waits until `notify` is notified: idle, with a live waker.
async fn wait(notify: std::sync::Arc<Notify>) {
    notify.notified().await;
}

#[test]
fn the_main_task_comes_first_and_each_task_is_listed_under_its_spawner() {
    let mut runner = debug_runner();
    let (dump, lines) = runner
        .run(async {
            let notify = std::sync::Arc::new(Notify::new());
            let n = notify.clone();
            let child_line = line!() + 2;
            let parent = async move {
                let child = Builder::new().name("child").spawn_local(wait(n.clone()));
                wait(n).await;
                drop(child);
            };
            let parent_line = line!() + 1;
            let parent = Builder::new().name("parent").spawn_local(parent).unwrap();
            let waits = wait(notify.clone());
            let sibling_line = line!() + 1;
            let sibling = Builder::new().name("sibling").spawn_local(waits);
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            let dump = dump();
            notify.notify_waiters();
            parent.await.unwrap();
            sibling.unwrap().await.unwrap();
            (dump, [parent_line, child_line, sibling_line])
        })
        .unwrap();
    let rows: Vec<_> = dump
        .iter()
        .map(|t| (t.name().to_owned(), t.depth(), t.parent()))
        .collect();
    assert_eq!(
        rows,
        [
            ("main".to_owned(), 0, None),
            ("parent".to_owned(), 1, Some(0)),
            ("child".to_owned(), 2, Some(1)),
            ("sibling".to_owned(), 1, Some(0)),
        ],
        "{dump}"
    );
    let sites: Vec<u32> = dump.iter().skip(1).map(|t| t.spawned_at().line()).collect();
    assert_eq!(sites, lines, "{dump}");
    assert!(dump.iter().all(|t| t.spawned_at().file() == file!()));
    assert!(dump.is_complete());
}

#[test]
fn the_display_indents_each_task_under_its_spawner() {
    let mut runner = debug_runner();
    let text = runner
        .run(async {
            let notify = std::sync::Arc::new(Notify::new());
            let n = notify.clone();
            let _outer = Builder::new().name("outer").spawn_local(async move {
                let _inner = Builder::new().name("inner").spawn_local(wait(n.clone()));
                wait(n).await;
            });
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            dump().to_string()
        })
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "runner task dump: 3 live tasks", "{text}");
    assert!(lines[1].starts_with("  `main` run at "), "{text}");
    assert!(lines[1].contains(": being polled for "), "{text}");
    assert!(lines[2].starts_with("    `outer` (id "), "{text}");
    assert!(lines[2].contains(": idle for "), "{text}");
    assert!(lines[3].starts_with("      `inner` (id "), "{text}");
    assert_eq!(lines.len(), 4, "{text}");
}

#[test]
fn ids_are_tokios_ids_of_the_tasks() {
    let mut runner = debug_runner();
    runner
        .run(async {
            let notify = std::sync::Arc::new(Notify::new());
            let handle = runner::spawn(wait(notify.clone()));
            tokio::task::yield_now().await;
            let dump = dump();
            let task = dump.iter().find(|t| !t.is_main()).unwrap();
            assert_eq!(task.id(), Some(handle.id()));
            assert_eq!(task.name(), "unnamed");
            assert_eq!(
                dump.iter().next().unwrap().id(),
                None,
                "main is no Tokio task"
            );
            notify.notify_waiters();
            handle.await.unwrap();
        })
        .unwrap();
}

#[test]
fn a_task_not_yet_polled_is_idle_since_its_spawn_and_says_never_polled() {
    let mut runner = debug_runner();
    runner
        .run(async {
            let handle = Builder::new().name("fresh").spawn_local(async {}).unwrap();
            let dump = dump();
            let task = dump.iter().find(|t| t.name() == "fresh").unwrap();
            assert_eq!(task.polls(), Some(0));
            assert!(matches!(task.state(), TaskState::Idle { .. }));
            assert!(dump.to_string().contains("never polled"), "{dump}");
            handle.await.unwrap();
        })
        .unwrap();
}

#[test]
fn a_task_holding_its_thread_shows_as_being_polled_and_for_how_long() {
    let mut runner = Runner::builder()
        .debug(true)
        .handle_sigint(false)
        .runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        })
        .build();
    runner
        .run(async {
            let (started_tx, started) = mpsc::channel();
            let (release, released) = mpsc::channel::<()>();
            let handle = Builder::new()
                .name("blocker")
                .spawn(async move {
                    started_tx.send(()).unwrap();
                    // Holds its worker thread until released.
                    released.recv().unwrap();
                })
                .unwrap();
            started.recv().unwrap();
            let before = std::time::Instant::now();
            std::thread::sleep(Duration::from_millis(20));
            let dump = dump();
            let task = dump.iter().find(|t| t.name() == "blocker").unwrap();
            match task.state() {
                TaskState::Polling { since, elapsed } => {
                    assert!(since <= before, "{dump}");
                    assert!(elapsed >= Duration::from_millis(20), "{dump}");
                }
                other => panic!("expected Polling, got {other:?}\n{dump}"),
            }
            assert!(dump.to_string().contains("being polled for"), "{dump}");
            release.send(()).unwrap();
            handle.await.unwrap();
        })
        .unwrap();
}

#[test]
fn a_task_whose_spawner_finished_is_listed_at_the_top_level() {
    let mut runner = debug_runner();
    runner
        .run(async {
            let notify = std::sync::Arc::new(Notify::new());
            let n = notify.clone();
            Builder::new()
                .name("spawner")
                .spawn_local(async move {
                    Builder::new().name("orphan").spawn_local(wait(n)).unwrap();
                })
                .unwrap()
                .await
                .unwrap();
            let dump = dump();
            let names: Vec<_> = dump.iter().map(|t| (t.name(), t.parent())).collect();
            assert_eq!(names, [("main", None), ("orphan", None)], "{dump}");
            notify.notify_waiters();
        })
        .unwrap();
}

#[test]
fn outside_debug_mode_only_the_main_task_is_listed_and_the_dump_says_how_to_see_more() {
    let mut runner = Runner::builder().debug(false).handle_sigint(false).build();
    let main = async {
        runner::spawn_local(async {});
        dump()
    };
    let (dump, line) = (runner.run(main), line!());
    let dump = dump.unwrap();
    assert_eq!(dump.len(), 1, "{dump}");
    let main = dump.iter().next().unwrap();
    assert!(main.is_main());
    assert_eq!(main.state(), TaskState::Unknown);
    assert_eq!(main.spawned_at().line(), line, "{dump}");
    assert!(!dump.is_complete());
    assert!(dump.to_string().contains("RUNNER_DEBUG=1"), "{dump}");
}

#[test]
fn outside_a_runner_the_dump_is_empty_and_says_so() {
    let dump = dump();
    assert!(dump.is_empty());
    assert!(
        dump.to_string().contains("not taken inside a runner"),
        "{dump}"
    );
}

#[test]
fn finished_tasks_leave_the_dump() {
    let mut runner = debug_runner();
    runner
        .run(async {
            runner::spawn(async {}).await.unwrap();
            let dump = dump();
            assert_eq!(dump.len(), 1, "{dump}");
        })
        .unwrap();
}

#[test]
fn blocking_work_takes_the_dump_of_its_runner() {
    let dump = debug_runner()
        .run(async {
            runner::task::Builder::new()
                .name("sibling")
                .spawn(std::future::pending::<()>())
                .unwrap();
            runner::spawn_blocking(runner::task::dump).await.unwrap()
        })
        .unwrap();
    assert!(dump.is_complete(), "{dump}");
    let names: Vec<&str> = dump.iter().map(|task| task.name()).collect();
    assert!(names.contains(&"main"), "{dump}");
    assert!(names.contains(&"sibling"), "{dump}");
}

#[test]
fn blocking_work_is_listed_running_on_the_pool_or_queued_and_for_how_long() {
    // One blocking thread: the second closure waits for the first.
    let mut runner = Runner::builder()
        .debug(true)
        .handle_sigint(false)
        .runtime(|| {
            tokio::runtime::Builder::new_current_thread()
                .max_blocking_threads(1)
                .enable_all()
                .build()
        })
        .build();
    runner
        .run(async {
            let (started_tx, started) = mpsc::channel();
            let (release, released) = mpsc::channel::<()>();
            let running_line = line!() + 1;
            let running = Builder::new().name("copy").spawn_blocking(move || {
                started_tx.send(()).unwrap();
                released.recv().unwrap();
            });
            started.recv().unwrap();
            let queued_line = line!() + 1;
            let queued = Builder::new().name("queued-copy").spawn_blocking(|| 7);
            let dump = dump();
            let text = dump.to_string();
            let find = |name| dump.iter().find(|t| t.name() == name).unwrap();
            let (copy, waiting) = (find("copy"), find("queued-copy"));
            assert!(copy.is_blocking() && waiting.is_blocking(), "{text}");
            assert!(matches!(copy.state(), TaskState::Blocking { .. }), "{text}");
            assert!(
                matches!(waiting.state(), TaskState::Queued { .. }),
                "{text}"
            );
            assert_eq!(copy.spawned_at().line(), running_line, "{text}");
            assert_eq!(waiting.spawned_at().line(), queued_line, "{text}");
            assert_eq!(copy.parent(), Some(0), "spawned by the main task: {text}");
            assert_eq!(copy.polls(), None, "blocking work is not polled: {text}");
            assert_eq!(copy.id(), running.as_ref().map(|h| h.id()).ok(), "{text}");
            assert!(copy.state().elapsed().is_some() && waiting.state().elapsed().is_some());
            let line_of = |name: &str| text.lines().find(|l| l.contains(name)).unwrap();
            assert!(
                line_of("`copy`").contains(": running on the blocking pool for "),
                "{text}"
            );
            assert!(
                line_of("`queued-copy`").contains(": queued for the blocking pool for "),
                "{text}"
            );
            assert!(!main_task_of(&dump).is_blocking());
            release.send(()).unwrap();
            running.unwrap().await.unwrap();
            assert_eq!(queued.unwrap().await.unwrap(), 7);
            let dump = runner::task::dump();
            assert!(dump.iter().all(|t| !t.is_blocking()), "{dump}");
        })
        .unwrap();
}

fn main_task_of(dump: &runner::task::TaskDump) -> &runner::task::DumpEntry {
    dump.iter().next().unwrap()
}
