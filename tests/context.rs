//! Context variables: the semantics of CPython's
//! `Lib/test/test_context.py` and of asyncio's task-context tests.
//!
//! Each test runs on its own thread, so each starts with an empty context.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use runner::{Context, ContextError, ContextVar, Runner, copy_context};

// --- ContextVar: get, set, reset ---------------------------------------------

#[test]
fn get_is_none_until_set_and_then_the_value() {
    static V: ContextVar<u32> = ContextVar::new("v");
    assert_eq!(V.get(), None);
    V.set(1);
    assert_eq!(V.get(), Some(1));
    V.set(2);
    assert_eq!(V.get(), Some(2));
}

#[test]
fn get_falls_back_to_the_default() {
    static V: ContextVar<&str> = ContextVar::with_default("v", "dflt");
    assert_eq!(V.get(), Some("dflt"));
    let token = V.set("set");
    assert_eq!(V.get(), Some("set"));
    V.reset(token).unwrap();
    assert_eq!(V.get(), Some("dflt"));
}

#[test]
fn a_var_keeps_its_name() {
    static V: ContextVar<u8> = ContextVar::new("request_id");
    assert_eq!(V.name(), "request_id");
    assert!(format!("{V:?}").contains("request_id"));
}

#[test]
fn set_returns_a_token_holding_the_old_value() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let first = V.set(1);
    assert_eq!(first.old_value(), None);
    let second = V.set(2);
    assert_eq!(second.old_value(), Some(&1));
    assert_eq!(second.var_name(), "v");
}

#[test]
fn reset_restores_the_previous_value_or_its_absence() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let t1 = V.set(1);
    let t2 = V.set(2);
    V.reset(t2).unwrap();
    assert_eq!(V.get(), Some(1));
    V.reset(t1).unwrap();
    assert_eq!(V.get(), None);
    assert!(
        !copy_context().contains(&V),
        "reset to missing removes the var"
    );
}

#[test]
fn reset_with_another_vars_token_fails() {
    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<u32> = ContextVar::new("b");
    let token = A.set(1);
    let err = B.reset(token).unwrap_err();
    assert_eq!(
        err,
        ContextError::WrongVar {
            token_var: "a",
            var: "b"
        }
    );
    assert!(err.to_string().contains("different ContextVar"), "{err}");
    assert_eq!(A.get(), Some(1), "nothing was reset");
}

#[test]
fn reset_in_another_context_fails() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let token = V.set(1);
    let err = Context::new().run(|| V.reset(token)).unwrap_err();
    assert_eq!(err, ContextError::WrongContext { var: "v" });
    assert!(err.to_string().contains("different Context"), "{err}");
    assert_eq!(V.get(), Some(1));
}

#[test]
fn a_token_from_a_context_resets_inside_that_context_later() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    let token = ctx.run(|| V.set(1));
    ctx.run(|| V.reset(token)).unwrap();
    assert_eq!(ctx.get(&V), None);
}

#[test]
fn vars_are_identified_by_var_not_by_name() {
    static A: ContextVar<u32> = ContextVar::new("same");
    static B: ContextVar<u32> = ContextVar::new("same");
    A.set(1);
    assert_eq!(B.get(), None);
    B.set(2);
    assert_eq!((A.get(), B.get()), (Some(1), Some(2)));
}

#[test]
fn a_var_that_is_not_static_works_too() {
    let v = ContextVar::new("local");
    v.set(String::from("x"));
    let moved = v;
    assert_eq!(moved.get().as_deref(), Some("x"));
}

#[test]
fn set_scoped_resets_when_the_guard_drops() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    {
        let _scoped = V.set_scoped(2);
        assert_eq!(V.get(), Some(2));
    }
    assert_eq!(V.get(), Some(1));
}

#[test]
fn a_values_drop_may_use_context_vars() {
    static V: ContextVar<Arc<Probe>> = ContextVar::new("v");
    static SEEN: ContextVar<u32> = ContextVar::new("seen");
    struct Probe;
    impl Drop for Probe {
        fn drop(&mut self) {
            // Runs while a value is replaced: must not hit a held borrow.
            let _ = V.get();
            SEEN.set(1);
        }
    }
    let token = V.set(Arc::new(Probe));
    V.reset(token).unwrap();
    assert_eq!(SEEN.get(), Some(1));
}

// --- Context ----------------------------------------------------------------

#[test]
fn a_new_context_is_empty_and_run_returns_the_closures_value() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let ctx = Context::new();
    assert!(ctx.is_empty());
    assert_eq!(ctx.run(|| V.get()), None);
    assert_eq!(ctx.run(|| 5), 5);
}

#[test]
fn run_changes_stay_in_the_context_that_ran() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    ctx.run(|| V.set(1));
    assert_eq!(V.get(), None);
    assert_eq!(ctx.get(&V), Some(1));
    assert_eq!(ctx.run(|| V.get()), Some(1));
}

#[test]
fn copy_context_is_a_snapshot_independent_both_ways() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let copy = copy_context();
    V.set(2);
    assert_eq!(copy.get(&V), Some(1), "later sets do not reach the copy");
    copy.run(|| V.set(3));
    assert_eq!(
        V.get(),
        Some(2),
        "the copy's sets do not reach the original"
    );
    assert_eq!(copy.get(&V), Some(3));
}

#[test]
fn context_copy_is_independent_and_a_clone_is_the_same_context() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    let same = ctx.clone();
    let other = ctx.copy();
    ctx.run(|| V.set(1));
    assert_eq!(same.get(&V), Some(1));
    assert_eq!(other.get(&V), None);
}

#[test]
fn context_get_ignores_the_vars_default() {
    static V: ContextVar<u32> = ContextVar::with_default("v", 7);
    assert_eq!(Context::new().get(&V), None);
    assert!(!Context::new().contains(&V));
}

#[test]
fn context_get_is_live_while_the_context_is_entered() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    let seen = ctx.run(|| {
        V.set(1);
        let first = ctx.get(&V);
        V.set(2);
        (first, ctx.get(&V), ctx.len())
    });
    assert_eq!(seen, (Some(1), Some(2), 1));
}

#[test]
fn nested_runs_of_different_contexts_each_see_their_own() {
    static V: ContextVar<&str> = ContextVar::new("v");
    let outer = Context::new();
    let inner = Context::new();
    outer.run(|| {
        V.set("outer");
        inner.run(|| {
            assert_eq!(V.get(), None);
            V.set("inner");
        });
        assert_eq!(V.get(), Some("outer"));
    });
    assert_eq!(outer.get(&V), Some("outer"));
    assert_eq!(inner.get(&V), Some("inner"));
}

#[test]
fn a_shadowed_context_is_read_with_its_current_values() {
    static V: ContextVar<i32> = ContextVar::new("v");
    static W: ContextVar<i32> = ContextVar::new("w");
    let outer = Context::new();
    let inner = Context::new();
    outer.run(|| {
        V.set(1);
        inner.run(|| {
            assert_eq!(outer.get(&V), Some(1));
            assert!(outer.contains(&V));
            assert_eq!((outer.len(), outer.var_names()), (1, vec!["v"]));
            assert_eq!(outer.copy().get(&V), Some(1));
            assert!(format!("{outer:?}").contains("\"v\""), "{outer:?}");
        });
        V.set(2);
        W.set(3);
        inner.run(|| assert_eq!((outer.get(&V), outer.get(&W)), (Some(2), Some(3))));
        assert_eq!(V.get(), Some(2), "the live mapping came back");
    });
    assert_eq!(outer.get(&V), Some(2));
}

#[test]
fn a_runners_context_is_read_live_from_a_scope_nested_in_its_main_task() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    let other = Context::new();
    let mut runner = Runner::new();
    let seen = runner
        .run_in(
            async {
                V.set(1);
                let seen = other.clone().scope(async { ctx.get(&V) }).await;
                V.set(2);
                (seen, V.get())
            },
            &ctx,
        )
        .unwrap();
    assert_eq!(seen, (Some(1), Some(2)));
}

#[test]
fn a_context_shadowed_by_a_task_polled_inside_its_run_is_read_live() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = Context::new();
    let handle = ctx.clone();
    let (seen, after) = ctx.run(|| {
        V.set(1);
        let seen = rt.block_on(async move {
            runner::spawn(async move {
                V.set(7);
                handle.get(&V)
            })
            .await
            .unwrap()
        });
        (seen, V.get())
    });
    assert_eq!(seen, Some(1));
    assert_eq!(after, Some(1), "the task's own set stayed in the task");
}

#[test]
fn another_thread_reads_an_entered_context_as_of_its_entry() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    ctx.run(|| V.set(1));
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (read_tx, read_rx) = std::sync::mpsc::channel();
    let handle = &ctx;
    std::thread::scope(|s| {
        s.spawn(move || {
            handle.run(|| {
                V.set(2);
                entered_tx.send(()).unwrap();
                read_rx.recv().unwrap();
            })
        });
        entered_rx.recv().unwrap();
        assert_eq!(
            ctx.get(&V),
            Some(1),
            "the live mapping is the other thread's"
        );
        read_tx.send(()).unwrap();
    });
    assert_eq!(ctx.get(&V), Some(2));
}

#[test]
fn debug_of_a_context_in_use_elsewhere_does_not_block() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    ctx.run(|| V.set(1));
    let text = ctx.run(|| format!("{ctx:?}"));
    assert!(text.contains("entered: true"), "{text}");
}

#[test]
fn context_run_during_thread_teardown_runs_the_closure_without_entering() {
    static V: ContextVar<Arc<RunsOnDrop>> = ContextVar::new("v");
    static OTHER: ContextVar<u32> = ContextVar::new("other");
    static RAN: AtomicUsize = AtomicUsize::new(0);
    struct RunsOnDrop(Context);
    impl Drop for RunsOnDrop {
        fn drop(&mut self) {
            let seen = self.0.run(|| {
                OTHER.set(2);
                OTHER.get()
            });
            // No context is left to enter: the set went nowhere.
            assert_eq!(seen, None);
            RAN.fetch_add(1, Ordering::SeqCst);
        }
    }
    let ctx = Context::new();
    let handle = ctx.clone();
    std::thread::spawn(move || {
        V.set(Arc::new(RunsOnDrop(handle)));
    })
    .join()
    .unwrap();
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
    assert!(ctx.is_empty(), "the context was left unchanged");
}

#[test]
fn a_panic_inside_run_leaves_the_outer_context_intact() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let ctx = Context::new();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        ctx.run(|| {
            V.set(2);
            panic!("inside run");
        })
    }));
    assert!(caught.is_err());
    assert_eq!(V.get(), Some(1));
    assert_eq!(ctx.get(&V), Some(2), "what ran before the panic stays");
    ctx.run(|| assert_eq!(V.get(), Some(2))); // and it can be entered again
}

#[test]
fn entering_an_entered_context_panics() {
    let ctx = Context::new();
    let caught = catch_unwind(AssertUnwindSafe(|| ctx.run(|| ctx.run(|| ()))));
    let payload = caught.unwrap_err();
    let msg = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("already entered"), "{msg}");
    ctx.run(|| ()); // the outer run left it usable
}

#[test]
fn entering_through_a_clone_is_entering_the_same_context() {
    let ctx = Context::new();
    let clone = ctx.clone();
    let caught = catch_unwind(AssertUnwindSafe(|| ctx.run(|| clone.run(|| ()))));
    assert!(caught.is_err());
}

#[test]
fn the_mapping_can_be_inspected() {
    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<String> = ContextVar::new("b");
    let ctx = Context::new();
    ctx.run(|| {
        A.set(1);
        B.set("x".into());
    });
    assert_eq!(ctx.len(), 2);
    assert!(ctx.contains(&A) && ctx.contains(&B));
    let mut names = ctx.var_names();
    names.sort_unstable();
    assert_eq!(names, ["a", "b"]);
    assert!(format!("{ctx:?}").contains("\"a\""));
}

#[test]
fn each_os_thread_has_its_own_context() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                assert_eq!(V.get(), None, "a new thread starts empty");
                V.set(i);
                std::thread::yield_now();
                V.get()
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), Some(i as u32));
    }
    assert_eq!(V.get(), Some(1));
}

#[test]
fn a_context_can_move_to_another_thread() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(5);
    let ctx = copy_context();
    let seen = std::thread::spawn(move || ctx.run(|| V.get()))
        .join()
        .unwrap();
    assert_eq!(seen, Some(5));
}

#[test]
fn scope_runs_a_future_in_the_context_and_restores_after_each_poll() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(1);
        let ctx = Context::new();
        let task = ctx.clone().scope(async {
            V.set(2);
            tokio::task::yield_now().await;
            V.get()
        });
        let (inner, outer) = tokio::join!(task, async {
            tokio::task::yield_now().await;
            V.get()
        });
        assert_eq!(inner, Some(2));
        assert_eq!(outer, Some(1), "restored between the scope's polls");
        assert_eq!(ctx.get(&V), Some(2));
    })
    .unwrap();
}

#[test]
fn scope_restores_the_context_when_the_future_panics() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let ctx = Context::new();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        runner::run(ctx.clone().scope(async {
            V.set(2);
            panic!("in scope");
        }))
    }));
    assert!(caught.is_err());
    assert_eq!(V.get(), Some(1));
    ctx.run(|| assert_eq!(V.get(), Some(2)));
}

/// Records `V` (or 0) when dropped, then sets `V` to 99: where a future's
/// `Drop` runs, and whether its `set` leaks.
struct DropProbe {
    seen: Arc<AtomicUsize>,
}

static PROBED: ContextVar<u32> = ContextVar::new("probed");

impl Drop for DropProbe {
    fn drop(&mut self) {
        let seen = PROBED.get().unwrap_or(0) as usize;
        self.seen.store(seen, Ordering::SeqCst);
        PROBED.set(99);
    }
}

/// A future holding a probe that returns, or panics, on its first poll.
struct Holds {
    _probe: DropProbe,
    panics: bool,
}

impl Future for Holds {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
        assert!(!self.panics, "the future panicked");
        Poll::Ready(())
    }
}

fn holds(panics: bool) -> (Holds, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let probe = DropProbe { seen: seen.clone() };
    (
        Holds {
            _probe: probe,
            panics,
        },
        seen,
    )
}

fn context_with_probed(value: u32) -> Context {
    let ctx = Context::new();
    ctx.run(|| PROBED.set(value));
    ctx
}

#[test]
fn a_scope_never_polled_drops_its_future_inside_its_context() {
    PROBED.set(1);
    let ctx = context_with_probed(5);
    let (future, seen) = holds(false);
    drop(ctx.clone().scope(future));
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(PROBED.get(), Some(1), "the drop's set did not leak out");
    assert_eq!(
        ctx.get(&PROBED),
        Some(99),
        "it landed in the scope's context"
    );
}

#[test]
fn a_scope_whose_future_completed_drops_it_inside_its_context() {
    PROBED.set(1);
    let ctx = context_with_probed(5);
    let (future, seen) = holds(false);
    let mut scope = Box::pin(ctx.clone().scope(future));
    let poll = scope
        .as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()));
    assert!(poll.is_ready());
    drop(scope);
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(PROBED.get(), Some(1));
}

#[test]
fn a_scope_whose_poll_panicked_drops_its_future_inside_its_context() {
    PROBED.set(1);
    let ctx = context_with_probed(5);
    let (future, seen) = holds(true);
    let mut scope = Box::pin(ctx.clone().scope(future));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = scope
            .as_mut()
            .poll(&mut std::task::Context::from_waker(Waker::noop()));
    }));
    assert!(caught.is_err());
    drop(scope);
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(PROBED.get(), Some(1));
}

#[test]
fn a_scope_dropped_while_its_context_is_entered_elsewhere_drops_in_a_copy() {
    PROBED.set(1);
    let ctx = context_with_probed(5);
    let (future, seen) = holds(false);
    let scope = ctx.clone().scope(future);
    let other = Context::new();
    ctx.run(|| other.run(|| drop(scope)));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        5,
        "it saw the context's values"
    );
    assert_eq!(PROBED.get(), Some(1));
    assert_eq!(ctx.get(&PROBED), Some(5), "a throwaway copy took the set");
}

/// A future that sets `GUARDED` with a `set_scoped` guard, then waits
/// forever; dropping it drops the guard, then a probe that records what
/// `GUARDED` reads after the guard's reset (`u32::MAX` for unset).
fn guarded_forever() -> (impl Future<Output = ()>, Arc<AtomicUsize>) {
    static GUARDED: ContextVar<u32> = ContextVar::new("guarded");
    struct AfterReset(Arc<AtomicUsize>);
    impl Drop for AfterReset {
        fn drop(&mut self) {
            let seen = GUARDED.get().map_or(usize::MAX, |v| v as usize);
            self.0.store(seen, Ordering::SeqCst);
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let probe = AfterReset(seen.clone());
    let future = async move {
        let _probe = probe;
        let _guard = GUARDED.set_scoped(42);
        std::future::pending::<()>().await;
    };
    (future, seen)
}

fn poll_once<F: Future>(future: Pin<&mut F>) {
    let poll = future.poll(&mut std::task::Context::from_waker(Waker::noop()));
    assert!(poll.is_pending());
}

#[test]
fn a_set_scoped_guard_dropped_in_a_throwaway_copy_resets_there_without_panicking() {
    // Shadowed on this thread.
    let ctx = Context::new();
    let (future, seen) = guarded_forever();
    let mut scope = Box::pin(ctx.clone().scope(future));
    poll_once(scope.as_mut());
    ctx.run(|| Context::new().run(|| drop(scope)));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        usize::MAX,
        "the guard reset the variable in the copy, before the probe looked"
    );
    assert_eq!(
        ctx.len(),
        1,
        "the copy's reset went nowhere, as its sets do"
    );

    // Entered on another thread.
    let ctx = Context::new();
    let (future, seen) = guarded_forever();
    let mut scope = Box::pin(ctx.clone().scope(future));
    poll_once(scope.as_mut());
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = ctx.clone();
    let thread = std::thread::spawn(move || {
        holder.run(|| {
            entered_tx.send(()).unwrap();
            released.recv().unwrap();
        })
    });
    entered.recv().unwrap();
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(scope)));
    release.send(()).unwrap();
    thread.join().unwrap();
    assert!(dropped.is_ok(), "the guard's drop did not panic");
    assert_eq!(seen.load(Ordering::SeqCst), usize::MAX);
}

#[test]
fn a_runners_main_future_is_dropped_inside_the_runners_context_when_it_returns() {
    let mut runner = Runner::new();
    runner.run(async { PROBED.set(5) }).unwrap();
    let (future, seen) = holds(false);
    runner.run(future).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(runner.run(async { PROBED.get() }).unwrap(), Some(99));
    assert_eq!(PROBED.get(), None);
}

#[test]
fn a_runners_main_future_is_dropped_inside_the_runners_context_when_it_panics() {
    let mut runner = Runner::new();
    runner.run(async { PROBED.set(5) }).unwrap();
    let (future, seen) = holds(true);
    let caught = catch_unwind(AssertUnwindSafe(|| runner.run(future)));
    assert!(caught.is_err());
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(PROBED.get(), None);
}

// --- tasks (asyncio's task context rules) ------------------------------------

#[test]
fn a_child_task_starts_with_a_copy_made_at_spawn_time() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(1);
        let child = runner::spawn_local(async { V.get() });
        V.set(2); // after the spawn: the child does not see it
        assert_eq!(child.await.unwrap(), Some(1));
    })
    .unwrap();
}

#[test]
fn a_childs_changes_do_not_reach_its_parent() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(1);
        runner::spawn(async { V.set(2) }).await.unwrap();
        runner::spawn_local(async { V.set(3) }).await.unwrap();
        assert_eq!(V.get(), Some(1));
    })
    .unwrap();
}

#[test]
fn a_hundred_interleaved_tasks_keep_their_own_values() {
    static V: ContextVar<usize> = ContextVar::new("v");
    runner::run(async {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                V.set(i);
                runner::spawn_local(async move {
                    for round in 0..10 {
                        assert_eq!(V.get(), Some(i), "before yield {round}");
                        V.set(i); // re-set: a copy-on-write in a shared mapping
                        tokio::task::yield_now().await;
                    }
                    V.get()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Some(i));
        }
    })
    .unwrap();
}

#[test]
fn grandchildren_inherit_through_their_parent() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(1);
        let seen = runner::spawn(async {
            V.set(2);
            runner::spawn(async { V.get() }).await.unwrap()
        });
        assert_eq!(seen.await.unwrap(), Some(2));
    })
    .unwrap();
}

#[test]
fn a_plain_await_shares_the_callers_context() {
    static V: ContextVar<u32> = ContextVar::new("v");
    async fn set_it() {
        V.set(9);
    }
    runner::run(async {
        set_it().await;
        assert_eq!(V.get(), Some(9));
    })
    .unwrap();
}

#[test]
fn a_runners_context_persists_across_runs() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let mut runner = Runner::new();
    runner.run(async { V.set(1) }).unwrap();
    assert_eq!(V.get(), None, "the caller's context is untouched");
    assert_eq!(runner.run(async { V.get() }).unwrap(), Some(1));
}

#[test]
fn a_runners_context_starts_as_a_copy_of_the_callers() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let mut runner = Runner::new();
    assert_eq!(runner.run(async { V.get() }).unwrap(), Some(1));
    runner.run(async { V.set(2) }).unwrap();
    assert_eq!(V.get(), Some(1));
}

#[test]
fn run_in_runs_in_the_given_context_itself() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    let mut runner = Runner::new();
    runner.run_in(async { V.set(5) }, &ctx).unwrap();
    assert_eq!(ctx.get(&V), Some(5), "not a copy");
    assert_eq!(runner.run(async { V.get() }).unwrap(), None);
    assert_eq!(runner.run_in(async { V.get() }, &ctx).unwrap(), Some(5));
}

#[test]
fn spawn_blocking_copies_in_and_nothing_leaks_back() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(1);
        let seen = runner::spawn_blocking(|| {
            let seen = V.get();
            V.set(2);
            seen
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(1));
        assert_eq!(V.get(), Some(1));
    })
    .unwrap();
}

#[test]
fn spawn_blocking_threads_do_not_keep_a_finished_closures_values() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        runner::spawn_blocking(|| V.set(3)).await.unwrap();
        // A second closure, maybe on the same pool thread, starts clean.
        assert_eq!(runner::spawn_blocking(|| V.get()).await.unwrap(), None);
    })
    .unwrap();
}

#[test]
fn spawn_on_a_multi_thread_runtime_sees_the_copy() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let mut runner = Runner::builder()
        .runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        })
        .build();
    runner
        .run(async {
            V.set(4);
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    runner::spawn(async move {
                        let before = V.get();
                        V.set(100 + i);
                        tokio::task::yield_now().await;
                        (before, V.get())
                    })
                })
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap(), (Some(4), Some(100 + i as u32)));
            }
            assert_eq!(V.get(), Some(4));
        })
        .unwrap();
}

#[test]
fn raw_tokio_spawn_does_not_copy_the_context() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(1);
        assert_eq!(tokio::spawn(async { V.get() }).await.unwrap(), None);
    })
    .unwrap();
}

static RAW: ContextVar<u32> = ContextVar::new("raw");

/// A raw task: what it sees of `RAW`, then it sets `RAW` to `to`.
async fn raw_task_sets(to: u32) -> Option<u32> {
    let seen = RAW.get();
    RAW.set(to);
    seen
}

/// Raw Tokio tasks of one runner, polled on the loop's thread and (on a
/// multi-thread runtime) on its workers, neither see nor change the
/// caller's context or the main task's. (They may see each other's values:
/// raw tasks polled on one thread share a context.)
fn raw_tasks_run_in_the_loops_context(mut runner: Runner) {
    RAW.set(5);
    // Spawned outside any run, polled by the next one.
    let early = runner.handle().unwrap().spawn(raw_task_sets(76));
    for _ in 0..2 {
        let (seen, main) = runner
            .run(async {
                RAW.set(1);
                let raw = tokio::spawn(raw_task_sets(77));
                let local = tokio::task::spawn_local(raw_task_sets(78));
                let seen = [raw.await.unwrap(), local.await.unwrap()];
                (seen, RAW.get())
            })
            .unwrap();
        for seen in seen {
            assert!(
                !matches!(seen, Some(1 | 5)),
                "a raw task saw the caller's or the main task's value: {seen:?}"
            );
        }
        assert_eq!(main, Some(1), "the main task kept its own value");
        assert_eq!(
            RAW.get(),
            Some(5),
            "nothing leaked into the caller's context"
        );
    }
    let early = runner.run(early).unwrap().unwrap();
    assert!(!matches!(early, Some(1 | 5)), "{early:?}");
    assert_eq!(RAW.get(), Some(5));
}

#[test]
fn raw_tokio_tasks_see_neither_the_callers_context_nor_the_main_tasks() {
    raw_tasks_run_in_the_loops_context(Runner::new());
}

#[test]
fn raw_tokio_tasks_see_neither_the_callers_context_nor_the_main_tasks_on_a_multi_thread_runtime() {
    let runner = Runner::builder()
        .runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        })
        .build();
    raw_tasks_run_in_the_loops_context(runner);
}

#[test]
fn the_task_builder_copies_the_context_too() {
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        V.set(8);
        let b = runner::task::Builder::new().name("named");
        assert_eq!(b.spawn(async { V.get() }).unwrap().await.unwrap(), Some(8));
        assert_eq!(
            b.spawn_local(async { V.get() }).unwrap().await.unwrap(),
            Some(8)
        );
        assert_eq!(
            b.spawn_blocking(|| V.get()).unwrap().await.unwrap(),
            Some(8)
        );
    })
    .unwrap();
}

#[test]
fn copying_a_large_context_shares_its_values() {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Clone for Counted {
        fn clone(&self) -> Self {
            COUNT.fetch_add(1, Ordering::SeqCst);
            Counted
        }
    }
    static V: ContextVar<Counted> = ContextVar::new("v");
    V.set(Counted);
    for _ in 0..100 {
        let _copy = copy_context();
    }
    assert_eq!(COUNT.load(Ordering::SeqCst), 0, "copies clone no value");
}

#[test]
fn contexts_vars_and_tokens_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
    send_sync::<ContextVar<String>>();
    send_sync::<runner::Token<String>>();
    send_sync::<ContextError>();
}

#[test]
fn a_cancelled_tasks_cleanup_runs_in_the_tasks_context() {
    static V: ContextVar<u32> = ContextVar::new("v");
    struct Seen(Arc<AtomicUsize>);
    impl Drop for Seen {
        fn drop(&mut self) {
            self.0
                .store(V.get().unwrap_or(0) as usize, Ordering::SeqCst);
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let record = seen.clone();
    runner::run(async move {
        V.set(1);
        let task = runner::spawn_local(async move {
            V.set(5);
            let _seen = Seen(record);
            std::future::pending::<()>().await
        });
        tokio::task::yield_now().await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(V.get(), Some(1), "the task's context did not leak");
    })
    .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 5);
}

#[test]
fn a_chain_of_sets_resets_back_in_order() {
    static V: ContextVar<String> = ContextVar::new("v");
    let tokens: Vec<_> = (0..5).map(|i| V.set(i.to_string())).collect();
    for (i, token) in tokens.into_iter().enumerate().rev() {
        assert_eq!(V.get(), Some(i.to_string()));
        let expected_old = i.checked_sub(1).map(|j| j.to_string());
        assert_eq!(token.old_value(), expected_old.as_ref());
        V.reset(token).unwrap();
    }
    assert_eq!(V.get(), None);
}

#[test]
fn resetting_into_a_copied_context_does_not_reach_the_copy() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let token = V.set(2);
    let copy = copy_context();
    V.reset(token).unwrap();
    V.set(3);
    V.set(4);
    assert_eq!(copy.get(&V), Some(2));
    assert_eq!(V.get(), Some(4));
}

#[test]
fn a_value_replaced_in_place_is_dropped_outside_internal_borrows() {
    static V: ContextVar<Arc<Probe>> = ContextVar::new("v");
    static DROPS: ContextVar<u32> = ContextVar::with_default("drops", 0);
    struct Probe;
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = V.get();
            DROPS.set(DROPS.get().unwrap_or(0) + 1);
        }
    }
    V.set(Arc::new(Probe));
    let token = V.set(Arc::new(Probe)); // in place: the first probe moves to the token
    assert_eq!(DROPS.get(), Some(0));
    V.reset(token).unwrap(); // in place again: the second probe is dropped
    assert_eq!(DROPS.get(), Some(1));
    drop(V.set(Arc::new(Probe))); // the token's old value is the first probe
    assert_eq!(DROPS.get(), Some(2));
}

#[test]
fn values_dropped_at_thread_exit_may_use_context_vars() {
    static V: ContextVar<Arc<Noisy>> = ContextVar::new("v");
    static OTHER: ContextVar<u32> = ContextVar::new("other");
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    struct Noisy;
    impl Drop for Noisy {
        fn drop(&mut self) {
            // At thread exit the context is being torn down: these must
            // neither panic nor abort.
            let _ = OTHER.get();
            let token = OTHER.set(1);
            let _ = OTHER.reset(token);
            let _scoped = OTHER.set_scoped(2);
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
    std::thread::spawn(|| {
        V.set(Arc::new(Noisy));
    })
    .join()
    .unwrap();
    assert_eq!(DROPPED.load(Ordering::SeqCst), 1);
}

#[test]
fn set_scoped_resets_when_its_scope_panics() {
    static V: ContextVar<u32> = ContextVar::new("v");
    V.set(1);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _scoped = V.set_scoped(2);
        panic!("inside the scope");
    }));
    assert!(caught.is_err());
    assert_eq!(V.get(), Some(1));
}

#[test]
fn a_task_can_run_in_a_given_context_itself() {
    // asyncio's create_task(coro, context=ctx): the task's changes land in ctx.
    static V: ContextVar<u32> = ContextVar::new("v");
    runner::run(async {
        let ctx = Context::new();
        let task = runner::spawn_local(ctx.clone().scope(async {
            V.set(3);
            tokio::task::yield_now().await;
            V.get()
        }));
        assert_eq!(task.await.unwrap(), Some(3));
        assert_eq!(ctx.get(&V), Some(3));
        assert_eq!(V.get(), None);
    })
    .unwrap();
}
