//! A poll that panics runs the panic hook before it unwinds, and a slow hook
//! (one that prints a backtrace, say) holds the thread past the slow-poll
//! threshold: that is no blocking call, and the watchdog does not name it.
//!
//! Its own binary: the test sets the process's panic hook before any runner
//! starts, as a program would.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use runner::Runner;
use runner::task::Builder;
use support::Capture;

fn debug_runner() -> Runner {
    Runner::builder()
        .debug(true)
        .handle_sigint(false)
        .slow_poll_threshold(Duration::from_millis(50))
        .build()
}

fn block_until(release: &AtomicBool) {
    while !release.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_poll_held_by_a_slow_panic_hook_is_not_named() {
    let capture = Capture::new();
    let release = Arc::new(AtomicBool::new(false));
    let (in_hook, hook_entered) = mpsc::channel::<()>();
    let in_hook = std::sync::Mutex::new(in_hook);
    let hook_release = release.clone();
    std::panic::set_hook(Box::new(move |_| {
        let _ = in_hook.lock().unwrap().send(());
        block_until(&hook_release);
    }));
    // While the hook holds the panicking poll, a task of another runner
    // blocks until the watchdog names it: the watchdog looked many times.
    let witness = {
        let (capture, release) = (capture.clone(), release.clone());
        thread::spawn(move || {
            hook_entered.recv().unwrap();
            let blocked = Arc::new(AtomicBool::new(false));
            let helper = {
                let (capture, blocked) = (capture.clone(), blocked.clone());
                thread::spawn(move || {
                    let named = capture.wait_for("`witness`", Duration::from_secs(30));
                    blocked.store(true, Ordering::Release);
                    named
                })
            };
            capture.during(|| {
                debug_runner()
                    .run(async move {
                        let task = Builder::new().name("witness");
                        task.spawn_local(async move { block_until(&blocked) })
                            .unwrap()
                            .await
                            .unwrap();
                    })
                    .unwrap()
            });
            release.store(true, Ordering::Release);
            helper.join().unwrap()
        })
    };
    capture.during(|| {
        debug_runner()
            .run(async {
                let task = Builder::new().name("panicker");
                let handle = task.spawn_local(async { panic!("slow hook") }).unwrap();
                assert!(handle.await.unwrap_err().is_panic());
            })
            .unwrap()
    });
    assert!(witness.join().unwrap().is_some(), "the witness was named");
    let named: Vec<_> = capture
        .reports_containing("still holds its thread")
        .into_iter()
        .filter(|r| r.field("task") == "panicker")
        .collect();
    assert!(named.is_empty(), "{named:#?}");
}
