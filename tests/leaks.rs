#![cfg(target_os = "linux")] // counts /proc/self/task and /proc/self/fd
//! Sequential runs leave nothing behind. Its own test binary: counting the
//! process's threads and descriptors needs no other test running.

use std::time::{Duration, Instant};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn five_hundred_sequential_runs_leave_no_threads_or_descriptors_behind() {
    let work = || {
        runner::run(async {
            let task = runner::spawn(async { tokio::task::yield_now().await });
            runner::spawn_blocking(|| ()).await.unwrap();
            task.await.unwrap();
        })
        .unwrap()
    };
    work();
    let (threads, fds) = (count("/proc/self/task"), count("/proc/self/fd"));
    for _ in 0..500 {
        work();
    }
    // Blocking-pool threads exit asynchronously after shutdown; give the
    // last ones a moment to be reaped before comparing.
    let deadline = Instant::now() + Duration::from_secs(5);
    while count("/proc/self/task") > threads && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(count("/proc/self/task"), threads, "threads");
    assert_eq!(count("/proc/self/fd"), fds, "file descriptors");
}
