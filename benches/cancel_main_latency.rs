//! Lost-panic-to-`run`-returns latency under `LostPanic::CancelMain` (the
//! stop must come within one turn of the loop; the target is 100 ms).
//!
//! ```text
//! cargo bench --bench cancel_main_latency
//! ```
//!
//! Each sample runs a main task that detaches a task which records the time
//! and panics, then sleeps for a minute; the sample is the time from that
//! record until `run` returns `Error::TaskPanicked`. Measured for `spawn`,
//! `spawn_local` and `spawn_blocking`, on the current-thread loop and on a
//! two-worker multi-thread runtime, in one warm runner per case (a stop is
//! taken by the run it ends, so the runner serves every sample).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runner::{Error, LostPanic, Runner};

const SAMPLES: usize = 500;
const TARGET: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
enum Spawn {
    Send,
    Local,
    Blocking,
}

fn runner(multi_thread: bool) -> Runner {
    let mut builder = Runner::builder()
        .handle_sigint(false)
        .lost_panic(LostPanic::CancelMain);
    if multi_thread {
        builder = builder.runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        });
    }
    builder.build()
}

/// One run: the latency from the panic to `run` returning.
fn sample(runner: &mut Runner, how: Spawn) -> Duration {
    let panicked_at = Arc::new(Mutex::new(None));
    let at = panicked_at.clone();
    let doomed = move || {
        *at.lock().unwrap() = Some(Instant::now());
        panic!("boom");
    };
    let result = runner.run(async move {
        let handle = match how {
            Spawn::Send => runner::spawn(async move { doomed() }),
            Spawn::Local => runner::spawn_local(async move { doomed() }),
            Spawn::Blocking => runner::spawn_blocking(doomed),
        };
        drop(handle);
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let returned = Instant::now();
    assert!(
        matches!(result, Err(Error::TaskPanicked { .. })),
        "{result:?}"
    );
    let panicked = panicked_at.lock().unwrap().expect("the task ran");
    returned.duration_since(panicked)
}

fn main() {
    // The panics are the workload, not news.
    std::panic::set_hook(Box::new(|_| {}));
    println!("lost panic -> run returns TaskPanicked, {SAMPLES} samples per case");
    for multi_thread in [false, true] {
        let flavour = if multi_thread {
            "multi_thread"
        } else {
            "current_thread"
        };
        for how in [Spawn::Send, Spawn::Local, Spawn::Blocking] {
            let mut runner = runner(multi_thread);
            let mut samples: Vec<Duration> =
                (0..SAMPLES).map(|_| sample(&mut runner, how)).collect();
            samples.sort();
            let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
            let max = samples[samples.len() - 1];
            println!(
                "{flavour:>14} {:<8}: p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}  {}",
                format!("{how:?}"),
                pct(50),
                pct(99),
                max,
                if max <= TARGET { "ok" } else { "OVER 100 ms" },
            );
        }
    }
}
