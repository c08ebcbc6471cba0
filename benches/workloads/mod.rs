//! Workloads shared by more than one benchmark binary.

use std::future::Future;
use std::task::Poll;

/// A task that returns `Pending` `n` times, waking itself each time: the
/// scheduler re-polls it at once, so this measures the per-poll cost alone.
pub fn self_wakes(n: usize) -> impl Future<Output = usize> {
    let mut left = n;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready(n);
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// A multi-thread runtime with two workers, for the two-worker rows.
pub fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a two-worker runtime")
}
