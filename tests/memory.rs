//! Nothing is kept after tasks end or a runner closes: a counting allocator
//! sees the live heap back where it started. Its own test binary (the
//! allocator counts the whole process), one test (nothing else allocates
//! meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use runner::Runner;
use tokio::sync::watch;

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY (test-only allocator): every call is forwarded to the system
// allocator unchanged; the counter is only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How far from the start the live heap may be: what the runtime and the
/// test harness hold may move by a little.
const SLACK: isize = 64 * 1024;

const TASKS: usize = 100_000;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn runner() -> Runner {
    Runner::builder().handle_sigint(false).debug(false).build()
}

/// Detached tasks that end on their own: each handle is dropped at once,
/// and each task yields once before it ends.
fn detached_tasks_that_end(runner: &mut Runner, tasks: usize) {
    runner
        .run(async move {
            let done = std::rc::Rc::new(std::cell::Cell::new(0));
            for _ in 0..tasks {
                let done = done.clone();
                drop(runner::spawn_local(async move {
                    tokio::task::yield_now().await;
                    done.set(done.get() + 1);
                }));
            }
            while done.get() < tasks {
                tokio::task::yield_now().await;
            }
        })
        .unwrap();
}

/// Detached tasks still waiting when their handles are dropped, then
/// released and ended.
fn detached_tasks_released_later(runner: &mut Runner, tasks: usize) {
    runner
        .run(async move {
            let (release, released) = watch::channel(false);
            for _ in 0..tasks {
                let mut released = released.clone();
                drop(runner::spawn(async move {
                    let _ = released.wait_for(|go| *go).await;
                }));
            }
            tokio::task::yield_now().await;
            release.send(true).unwrap();
            while release.receiver_count() > 1 {
                tokio::task::yield_now().await;
            }
        })
        .unwrap();
}

#[test]
fn detached_tasks_and_closed_runners_keep_no_memory() {
    // Warm up what the process keeps once (the harness, Tokio's and the
    // signal module's statics).
    let mut warm = runner();
    detached_tasks_that_end(&mut warm, 10);
    detached_tasks_released_later(&mut warm, 10);
    drop(warm);

    let start = live();
    let mut first = runner();
    detached_tasks_that_end(&mut first, TASKS);
    detached_tasks_released_later(&mut first, TASKS);
    first.close();
    drop(first);
    let after = live() - start;
    assert!(
        after.abs() <= SLACK,
        "{after} bytes live after {TASKS} detached tasks of each shape and close"
    );

    for _ in 0..100 {
        let mut runner = runner();
        detached_tasks_that_end(&mut runner, 1_000);
        detached_tasks_released_later(&mut runner, 1_000);
        drop(runner);
    }
    let after = live() - start;
    assert!(
        after.abs() <= SLACK,
        "{after} bytes live after 100 runners more"
    );
}
