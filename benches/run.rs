//! Starting and stopping a loop: `runner::run` (cold) and `Runner::run`
//! (warm) against the same work written directly on Tokio.
//!
//! Criterion runs on the main thread, so the runner variants with default
//! settings also arm Ctrl-C handling for each run (the handler is installed
//! once per process; a run arms and disarms it with atomic stores); the
//! `no_sigint` variants show the cost without it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::task::LocalSet;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// Build a runtime and a `LocalSet`, run a no-op main task, drop both.
fn cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("run_cold");
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let rt = current_thread();
            let local = LocalSet::new();
            black_box(local.block_on(&rt, async { black_box(1) }));
            drop(local);
            drop(rt);
        })
    });
    group.bench_function("runner", |b| {
        b.iter(|| black_box(runner::run(async { black_box(1) }).unwrap()))
    });
    group.bench_function("runner_no_sigint", |b| {
        b.iter(|| {
            let mut runner = runner::Runner::builder().handle_sigint(false).build();
            black_box(runner.run(async { black_box(1) }).unwrap());
            runner.close();
        })
    });
    group.finish();
}

/// Run a no-op main task on a loop that already exists.
fn warm(c: &mut Criterion) {
    let mut group = c.benchmark_group("run_warm");
    group.bench_function("tokio", |b| {
        let rt = current_thread();
        let local = LocalSet::new();
        b.iter(|| black_box(local.block_on(&rt, async { black_box(1) })))
    });
    group.bench_function("runner", |b| {
        let mut runner = runner::Runner::builder().debug(false).build();
        b.iter(|| black_box(runner.run(async { black_box(1) }).unwrap()))
    });
    group.bench_function("runner_no_sigint", |b| {
        let mut runner = runner::Runner::builder()
            .debug(false)
            .handle_sigint(false)
            .build();
        b.iter(|| black_box(runner.run(async { black_box(1) }).unwrap()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = cold, warm
}
criterion_main!(benches);
