//! Runner tasks against raw Tokio tasks: spawn + await of many tasks, and a
//! poll-heavy task, with debug mode off and on.
//!
//! Both sides run on a current-thread runtime with a `LocalSet`: the runner
//! side inside a warm `Runner::run`, the raw side inside `LocalSet::block_on`.
//! The runner side has one context variable set, so every spawn copies a
//! non-empty context.

#[path = "workloads/mod.rs"]
mod workloads;
use workloads::{self_wakes, two_workers};

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use runner::{ContextVar, Runner};
use tokio::task::LocalSet;

/// Tasks spawned and awaited per iteration.
const TASKS: usize = 100_000;
/// Yields of the poll-heavy task per iteration.
const YIELDS: usize = 100_000;

static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");

fn raw_loop() -> (tokio::runtime::Runtime, LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    (rt, LocalSet::new())
}

fn runner(debug: bool) -> Runner {
    let mut runner = Runner::builder().debug(debug).handle_sigint(false).build();
    runner
        .run(async {
            REQUEST_ID.set(7);
        })
        .unwrap();
    runner
}

/// Spawns `TASKS` tasks with `spawn`, then awaits them all in order.
macro_rules! spawn_await {
    ($spawn:path) => {
        async {
            let handles: Vec<_> = (0..TASKS).map(|i| $spawn(async move { i })).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            black_box(sum)
        }
    };
}

/// A task that yields `n` times with `tokio::task::yield_now` (asyncio's
/// `await asyncio.sleep(0)`). Tokio defers such a wake-up to the driver, so
/// every yield also costs a non-blocking poll of the I/O driver.
async fn yields(n: usize) -> usize {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    n
}

fn spawn_await(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_await_100k");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("tokio_spawn_local", |b| {
        let (rt, local) = raw_loop();
        b.iter(|| local.block_on(&rt, spawn_await!(tokio::task::spawn_local)))
    });
    group.bench_function("tokio_spawn", |b| {
        let (rt, local) = raw_loop();
        b.iter(|| local.block_on(&rt, spawn_await!(tokio::spawn)))
    });
    for debug in [false, true] {
        let suffix = if debug { "_debug" } else { "" };
        group.bench_function(format!("runner_spawn_local{suffix}"), |b| {
            let mut runner = runner(debug);
            b.iter(|| runner.run(spawn_await!(runner::spawn_local)).unwrap())
        });
        group.bench_function(format!("runner_spawn{suffix}"), |b| {
            let mut runner = runner(debug);
            b.iter(|| runner.run(spawn_await!(runner::spawn)).unwrap())
        });
    }
    group.finish();
}

/// One task polled `YIELDS` times, through `make`.
macro_rules! poll_heavy {
    ($c:expr, $group:literal, $make:expr) => {{
        let mut group = $c.benchmark_group($group);
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("tokio", |b| {
            let (rt, local) = raw_loop();
            b.iter(|| {
                local.block_on(&rt, async {
                    tokio::task::spawn_local($make).await.unwrap()
                })
            })
        });
        for debug in [false, true] {
            let name = if debug { "runner_debug" } else { "runner" };
            group.bench_function(name, |b| {
                let mut runner = runner(debug);
                b.iter(|| {
                    runner
                        .run(async { runner::spawn_local($make).await.unwrap() })
                        .unwrap()
                })
            });
        }
        group.finish();
    }};
}

/// Spawns `TASKS` tasks with `spawn`, dropping each handle at once (fire
/// and forget: asyncio's bare `create_task`); each task yields once, then
/// counts itself done. Returns once all are done.
macro_rules! detached {
    ($spawn:path) => {
        async {
            let done = std::rc::Rc::new(std::cell::Cell::new(0));
            for _ in 0..TASKS {
                let done = done.clone();
                drop($spawn(async move {
                    tokio::task::yield_now().await;
                    done.set(done.get() + 1);
                }));
            }
            while done.get() < TASKS {
                tokio::task::yield_now().await;
            }
        }
    };
}

fn detached(c: &mut Criterion) {
    let mut group = c.benchmark_group("detached_100k");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("tokio_spawn_local", |b| {
        let (rt, local) = raw_loop();
        b.iter(|| local.block_on(&rt, detached!(tokio::task::spawn_local)))
    });
    group.bench_function("runner_spawn_local", |b| {
        let mut runner = runner(false);
        b.iter(|| runner.run(detached!(runner::spawn_local)).unwrap())
    });
    group.finish();
}

fn spawn_await_two_workers(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_await_2workers_100k");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("tokio_spawn", |b| {
        let rt = two_workers();
        b.iter(|| rt.block_on(spawn_await!(tokio::spawn)))
    });
    group.bench_function("runner_spawn", |b| {
        let mut runner = Runner::builder()
            .debug(false)
            .handle_sigint(false)
            .runtime(|| Ok(two_workers()))
            .build();
        runner.run(async { REQUEST_ID.set(7) }).unwrap();
        b.iter(|| runner.run(spawn_await!(runner::spawn)).unwrap())
    });
    group.finish();
}

fn poll_heavy(c: &mut Criterion) {
    poll_heavy!(c, "yield_100k", yields(YIELDS));
    poll_heavy!(c, "self_wake_100k", self_wakes(YIELDS));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = spawn_await, detached, spawn_await_two_workers, poll_heavy
}
criterion_main!(benches);
