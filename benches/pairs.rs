//! The benchmark pairs as a plain program, for instruction counts: each
//! workload once as written on runner and once as the same work written
//! directly on Tokio (a current-thread runtime plus a `LocalSet`).
//!
//! `scripts/callgrind.sh` runs every pair under `valgrind --tool=callgrind`
//! at two iteration counts and reports instructions per iteration, which do
//! not move with the machine's load the way wall time does. By hand:
//! `cargo bench --bench pairs -- WORKLOAD SIDE ITERATIONS`, with SIDE
//! `runner` or `tokio`; no arguments lists the workloads.
//!
//! `PAIRS_TRACING=subscriber` runs any workload under a global `tracing`
//! subscriber (a bare `tracing_subscriber::registry()`), and
//! `PAIRS_TRACING=span` also inside an entered span: what spawning costs
//! when a span could follow the task, and when one does.

#[path = "workloads/mod.rs"]
mod workloads;
use workloads::{self_wakes, two_workers};

use std::future::Future;
use std::hint::black_box;

use runner::{ContextVar, Runner};
use tokio::task::LocalSet;

/// Tasks spawned and awaited per iteration of the spawn workloads.
const TASKS: usize = 1_000;
/// Self-wakes per iteration of the poll workload.
const WAKES: usize = 1_000;

static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");

const WORKLOADS: &[(&str, &str)] = &[
    (
        "cold",
        "runner::run(noop) vs runtime + LocalSet + block_on, dropped",
    ),
    (
        "cold_no_sigint",
        "the same, runner with handle_sigint(false)",
    ),
    ("warm", "Runner::run(noop) vs LocalSet::block_on(noop)"),
    (
        "warm_no_sigint",
        "the same, runner with handle_sigint(false)",
    ),
    (
        "spawn_local",
        "1000 x (runner::spawn_local vs tokio spawn_local) + await",
    ),
    (
        "spawn",
        "1000 x (runner::spawn vs tokio spawn_local) + await",
    ),
    ("self_wake", "one task waking itself 1000 times"),
    (
        "detached",
        "1000 x (runner::spawn_local vs tokio spawn_local), handles dropped at once, each task yields once",
    ),
    (
        "spawn_mt",
        "1000 x (runner::spawn vs tokio::spawn) + await, on a two-worker runtime",
    ),
    (
        "spawn_local_debug",
        "spawn_local, the runner in debug mode (the tokio side as ever)",
    ),
    (
        "self_wake_debug",
        "self_wake, the runner in debug mode (the tokio side as ever)",
    ),
    ("get", "ContextVar::get (tokio side: task_local! get)"),
    (
        "set",
        "ContextVar::set of a variable the context alone holds",
    ),
    ("copy", "copy_context with one variable set"),
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [workload, side, n] = args.as_slice() else {
        eprintln!("usage: pairs WORKLOAD runner|tokio ITERATIONS\nworkloads:");
        for (name, what) in WORKLOADS {
            eprintln!("  {name:16} {what}");
        }
        return;
    };
    let n: usize = n.parse().expect("ITERATIONS is a number");
    let _span = tracing_setup();
    let runner_side = match side.as_str() {
        "runner" => true,
        "tokio" => false,
        other => panic!("SIDE is runner or tokio, not {other}"),
    };
    match (workload.as_str(), runner_side) {
        ("cold", true) => cold_runner(n, true),
        ("cold_no_sigint", true) => cold_runner(n, false),
        ("cold" | "cold_no_sigint", false) => cold_tokio(n),
        ("warm", true) => warm_runner(n, true),
        ("warm_no_sigint", true) => warm_runner(n, false),
        ("warm" | "warm_no_sigint", false) => warm_tokio(n),
        ("spawn_local", true) => in_runner(n, false, || spawn_await(|f| runner::spawn_local(f))),
        ("spawn_local_debug", true) => {
            in_runner(n, true, || spawn_await(|f| runner::spawn_local(f)))
        }
        ("spawn", true) => in_runner(n, false, || spawn_await(|f| runner::spawn(f))),
        ("spawn_local" | "spawn_local_debug" | "spawn", false) => {
            in_tokio(n, || spawn_await(|f| tokio::task::spawn_local(f)))
        }
        ("detached", true) => in_runner(n, false, || detached(|f| runner::spawn_local(f))),
        ("detached", false) => in_tokio(n, || detached(|f| tokio::task::spawn_local(f))),
        ("spawn_mt", true) => {
            let mut runner = Runner::builder()
                .debug(false)
                .handle_sigint(false)
                .runtime(|| Ok(two_workers()))
                .build();
            runner
                .run(async {
                    REQUEST_ID.set(7);
                    for _ in 0..n {
                        black_box(spawn_await(|f| runner::spawn(f)).await);
                    }
                })
                .unwrap();
        }
        ("spawn_mt", false) => two_workers().block_on(async {
            for _ in 0..n {
                black_box(spawn_await(|f| tokio::spawn(f)).await);
            }
        }),
        ("self_wake", true) => in_runner(n, false, || async {
            runner::spawn_local(self_wakes(WAKES)).await.unwrap()
        }),
        ("self_wake_debug", true) => in_runner(n, true, || async {
            runner::spawn_local(self_wakes(WAKES)).await.unwrap()
        }),
        ("self_wake" | "self_wake_debug", false) => in_tokio(n, || async {
            tokio::task::spawn_local(self_wakes(WAKES)).await.unwrap()
        }),
        ("get", true) => context_ops(n, || black_box(REQUEST_ID.get())),
        ("get", false) => task_local_get(n),
        ("set", true) => context_ops(n, || drop(black_box(REQUEST_ID.set(8)))),
        ("copy", true) => context_ops(n, || drop(black_box(runner::copy_context()))),
        ("set" | "copy", false) => {}
        (other, _) => panic!("no workload {other}; run without arguments for the list"),
    }
}

/// Applies `PAIRS_TRACING`; the returned guard keeps the span entered.
fn tracing_setup() -> Option<tracing::span::EnteredSpan> {
    let mode = std::env::var("PAIRS_TRACING").unwrap_or_default();
    if mode.is_empty() {
        return None;
    }
    tracing::subscriber::set_global_default(tracing_subscriber::registry())
        .expect("the only global subscriber");
    match mode.as_str() {
        "subscriber" => None,
        "span" => Some(tracing::info_span!("bench").entered()),
        other => panic!("PAIRS_TRACING is subscriber or span, not {other}"),
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn cold_runner(n: usize, sigint: bool) {
    for _ in 0..n {
        let mut runner = Runner::builder().handle_sigint(sigint).build();
        black_box(runner.run(async { black_box(1) }).unwrap());
        runner.close();
    }
}

fn cold_tokio(n: usize) {
    for _ in 0..n {
        let rt = current_thread();
        let local = LocalSet::new();
        black_box(local.block_on(&rt, async { black_box(1) }));
        drop(local);
        drop(rt);
    }
}

fn warm_runner(n: usize, sigint: bool) {
    let mut runner = Runner::builder().debug(false).handle_sigint(sigint).build();
    for _ in 0..n {
        black_box(runner.run(async { black_box(1) }).unwrap());
    }
}

fn warm_tokio(n: usize) {
    let (rt, local) = (current_thread(), LocalSet::new());
    for _ in 0..n {
        black_box(local.block_on(&rt, async { black_box(1) }));
    }
}

/// `work()` once per iteration, in one warm run with a variable set.
fn in_runner<F: Future>(n: usize, debug: bool, work: impl Fn() -> F) {
    let mut runner = Runner::builder().debug(debug).handle_sigint(false).build();
    runner
        .run(async {
            REQUEST_ID.set(7);
            for _ in 0..n {
                black_box(work().await);
            }
        })
        .unwrap();
}

/// `work()` once per iteration, in one `LocalSet::block_on`.
fn in_tokio<F: Future>(n: usize, work: impl Fn() -> F) {
    let (rt, local) = (current_thread(), LocalSet::new());
    local.block_on(&rt, async {
        for _ in 0..n {
            black_box(work().await);
        }
    });
}

async fn spawn_await<H, E>(spawn: impl Fn(std::future::Ready<usize>) -> H) -> usize
where
    H: Future<Output = Result<usize, E>>,
    E: std::fmt::Debug,
{
    let handles: Vec<H> = (0..TASKS).map(|i| spawn(std::future::ready(i))).collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    sum
}

/// `TASKS` tasks spawned with their handles dropped at once; each yields
/// once, then counts itself done. Returns once all are done.
async fn detached<H>(spawn: impl Fn(YieldOnce) -> H) {
    let done = std::rc::Rc::new(std::cell::Cell::new(0));
    for _ in 0..TASKS {
        drop(spawn(YieldOnce {
            yielded: false,
            done: done.clone(),
        }));
    }
    while done.get() < TASKS {
        tokio::task::yield_now().await;
    }
}

/// Returns `Pending` once (waking itself), then counts itself done.
struct YieldOnce {
    yielded: bool,
    done: std::rc::Rc<std::cell::Cell<usize>>,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        self.done.set(self.done.get() + 1);
        std::task::Poll::Ready(())
    }
}

fn context_ops<T>(n: usize, op: impl Fn() -> T) {
    REQUEST_ID.set(7);
    for _ in 0..n {
        black_box(op());
    }
}

fn task_local_get(n: usize) {
    tokio::task_local! {
        static ID: u64;
    }
    ID.sync_scope(7, || {
        for _ in 0..n {
            black_box(ID.get());
        }
    });
}
