//! Latency from a cancellation request (`JoinHandle::cancel`) to the task
//! that listens waking up in `task::cancelled()`, against the same wake-up
//! through a `tokio::sync::Notify` on raw Tokio.
//!
//! ```text
//! cargo bench --bench cancel_latency
//! ```
//!
//! Each sample spawns a task that listens, lets it park, then records the
//! time and calls `cancel()`; the task records the time it woke. Measured
//! for `spawn_local` and `spawn` on the current-thread loop and for `spawn`
//! on a two-worker runtime, in one warm runner per case; the raw side does
//! the same with a `Notify` in place of the request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::Runner;
use tokio::sync::{Notify, oneshot};

const SAMPLES: usize = 2_000;

#[derive(Debug, Clone, Copy)]
enum Case {
    Local,
    Send,
    SendTwoWorkers,
}

fn two_workers() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

fn runner(case: Case) -> Runner {
    let builder = Runner::builder().handle_sigint(false).debug(false);
    match case {
        Case::SendTwoWorkers => builder.runtime(two_workers).build(),
        Case::Local | Case::Send => builder.build(),
    }
}

/// One request: from `cancel()` to the task's wake-up in `cancelled()`.
async fn request_sample(case: Case) -> Duration {
    let (listening, listens) = oneshot::channel::<()>();
    let (woke, wakes) = oneshot::channel::<Instant>();
    let task = async move {
        assert!(!runner::task::is_cancelled());
        let _ = listening.send(());
        runner::task::cancelled().await;
        let _ = woke.send(Instant::now());
    };
    let handle = match case {
        Case::Local => runner::spawn_local(task),
        Case::Send | Case::SendTwoWorkers => runner::spawn(task),
    };
    listens.await.unwrap();
    tokio::task::yield_now().await;
    let asked = Instant::now();
    handle.cancel();
    let woke = wakes.await.unwrap();
    handle.await.unwrap();
    woke - asked
}

/// The same wake-up on raw Tokio: a task parked on a `Notify`.
async fn notify_sample(case: Case) -> Duration {
    let notify = Arc::new(Notify::new());
    let (listening, listens) = oneshot::channel::<()>();
    let (woke, wakes) = oneshot::channel::<Instant>();
    let parked = notify.clone();
    let task = async move {
        let notified = parked.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let _ = listening.send(());
        notified.await;
        let _ = woke.send(Instant::now());
    };
    let handle = match case {
        Case::Local => tokio::task::spawn_local(task),
        Case::Send | Case::SendTwoWorkers => tokio::spawn(task),
    };
    listens.await.unwrap();
    tokio::task::yield_now().await;
    let asked = Instant::now();
    notify.notify_waiters();
    let woke = wakes.await.unwrap();
    handle.await.unwrap();
    woke - asked
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what:40} p50 {:>9.1?} p99 {:>9.1?} max {:>9.1?}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    for case in [Case::Local, Case::Send, Case::SendTwoWorkers] {
        let mut runner = runner(case);
        let samples = runner
            .run(async move {
                let mut samples = Vec::with_capacity(SAMPLES);
                for _ in 0..SAMPLES {
                    samples.push(request_sample(case).await);
                }
                samples
            })
            .unwrap();
        report(&format!("runner request, {case:?}"), samples);

        let raw = match case {
            Case::SendTwoWorkers => two_workers().unwrap(),
            Case::Local | Case::Send => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        let local = tokio::task::LocalSet::new();
        let samples = local.block_on(&raw, async move {
            let mut samples = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                samples.push(notify_sample(case).await);
            }
            samples
        });
        report(&format!("raw tokio Notify, {case:?}"), samples);
    }
}
