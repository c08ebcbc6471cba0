//! Context variables: `get`, `set` and `copy_context` with 1 and with 1000
//! variables set, and `tokio::task_local!` get for reference.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use runner::ContextVar;

tokio::task_local! {
    static TASK_LOCAL: u64;
}

/// Sets `n` fresh variables in this thread's current context and returns the
/// one in the middle (the one the benchmarks read and write).
fn fill(n: usize) -> &'static ContextVar<u64> {
    let vars: Vec<&'static ContextVar<u64>> = (0..n)
        .map(|_| &*Box::leak(Box::new(ContextVar::new("bench"))))
        .collect();
    for (i, var) in vars.iter().enumerate() {
        var.set(i as u64);
    }
    vars[n / 2]
}

/// Each size runs in a fresh context of its own, so each starts empty.
fn with_vars(n: usize, f: impl FnOnce(&'static ContextVar<u64>)) {
    runner::Context::new().run(|| f(fill(n)));
}

fn context_vars(c: &mut Criterion) {
    let mut group = c.benchmark_group("contextvar");
    for n in [1, 1000] {
        with_vars(n, |var| {
            group.bench_function(format!("get_{n}"), |b| b.iter(|| black_box(var.get())));
            let mut i = 0u64;
            group.bench_function(format!("set_{n}"), |b| {
                b.iter(|| {
                    i += 1;
                    black_box(var.set(i))
                })
            });
            group.bench_function(format!("copy_context_{n}"), |b| {
                b.iter(|| black_box(runner::copy_context()))
            });
        });
    }
    group.bench_function("task_local_get", |b| {
        TASK_LOCAL.sync_scope(7, || b.iter(|| black_box(TASK_LOCAL.get())))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = context_vars
}
criterion_main!(benches);
