//! Context variables with Python `contextvars` (PEP 567) semantics.
//!
//! Every thread has a *current context*: an immutable mapping from
//! [`ContextVar`]s to values, replaced (copy-on-write) by every `set`. Copying
//! it is O(1): the copy shares the mapping until one side writes.
//!
//! One concept per file: `storage` (the mapping and where it lives),
//! `var` ([`ContextVar`], [`Token`], [`SetGuard`], [`ContextError`]),
//! `handle` ([`Context`]), `scope` ([`Scope`]) and `task` (a task's own
//! context). DESIGN.md, "Context storage", explains the design and its costs.
#![forbid(unsafe_code)]

mod handle;
mod scope;
mod storage;
mod task;
mod var;

pub use handle::{Context, copy_context};
pub use scope::Scope;
pub(crate) use storage::{TaskKind, with_task};
pub(crate) use task::TaskContext;
pub use var::{ContextError, ContextVar, SetGuard, Token};

/// Instruction counts of the hot paths, for `valgrind --tool=callgrind`
/// (see DESIGN.md, "Context storage"): each loop runs `HOT_N` times.
#[cfg(test)]
mod hot_loops {
    use super::*;

    static V: ContextVar<u64> = ContextVar::new("v");

    fn n() -> u64 {
        std::env::var("HOT_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000)
    }

    #[inline(never)]
    fn hot_loop_get(n: u64) -> u64 {
        (0..n).map(|_| V.get().unwrap_or(0)).sum()
    }

    #[inline(never)]
    fn hot_loop_set(n: u64) {
        for i in 0..n {
            std::hint::black_box(V.set(i));
        }
    }

    #[inline(never)]
    fn hot_loop_copy(n: u64) {
        for _ in 0..n {
            std::hint::black_box(copy_context());
        }
    }

    #[inline(never)]
    fn hot_loop_task_enter(n: u64, task: &mut TaskContext) {
        for _ in 0..n {
            let _in = std::hint::black_box(task.enter());
        }
    }

    /// One task polled `n + 1` times: each poll enters and leaves the
    /// task's context (the runtime's own cost is in the count too).
    #[inline(never)]
    fn hot_loop_poll(n: u64) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime builds");
        let task = rt.block_on(async move {
            crate::spawn(async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            })
            .await
        });
        assert!(task.is_ok());
    }

    #[test]
    #[ignore = "an instruction-count harness, run under callgrind"]
    fn hot_paths() {
        let n = n();
        std::thread::spawn(move || {
            V.set(1);
            std::hint::black_box(hot_loop_get(n));
            hot_loop_set(n);
            hot_loop_copy(n);
            let mut task = TaskContext::capture();
            hot_loop_task_enter(n, &mut task);
            hot_loop_poll(n);
        })
        .join()
        .unwrap();
    }
}
