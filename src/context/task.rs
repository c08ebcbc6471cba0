//! A task's own context (crate internal): the copy a spawned task runs in.

use std::sync::Arc;

use super::handle::Context;
use super::storage::{Current, TaskKind, current_vars, swap_in_detached, swap_out_detached};
use crate::cancel::CancelState;

/// A task's own context: a copy taken at spawn that no one else can enter,
/// so entering it is a swap with the thread-local, with no lock or flag.
#[derive(Default)]
pub(crate) struct TaskContext(Current);

impl TaskContext {
    /// Copies the current context.
    #[inline]
    pub(crate) fn capture() -> Self {
        TaskContext(Current::detached(current_vars()))
    }

    /// Copies the current context for a spawned task: marked as a runner
    /// task, which may come to listen for cancellation.
    #[inline]
    pub(crate) fn for_task() -> Self {
        let mut ctx = TaskContext::capture();
        ctx.0.task.kind = TaskKind::Spawned;
        ctx
    }

    /// Marks this context as that of the runs' main task.
    pub(crate) fn mark_main(&mut self) {
        self.0.task.kind = TaskKind::Main;
    }

    /// The task's cancellation state, once it listens.
    #[inline]
    pub(crate) fn listener(&self) -> Option<&Arc<CancelState>> {
        self.0.task.listener.as_ref()
    }

    /// A throwaway copy of `ctx`'s current mapping, for cleanup that cannot
    /// enter `ctx` (entered elsewhere): it reads `ctx`'s values, tokens made
    /// in `ctx` reset in it, and what it changes goes nowhere.
    pub(super) fn throwaway_copy_of(ctx: &Context) -> Self {
        TaskContext(Current::throwaway(ctx.id(), ctx.vars()))
    }

    /// Makes this context current until the guard drops. During thread
    /// teardown it enters nothing (and the guard then restores nothing: the
    /// thread's context storage does not come back).
    #[inline]
    pub(crate) fn enter(&mut self) -> TaskEntered<'_> {
        let _ = swap_in_detached(&mut self.0);
        TaskEntered(&mut self.0)
    }

    /// Runs `f` in this context.
    pub(crate) fn run<R>(mut self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }
}

/// Swaps a [`TaskContext`] back out when dropped: its slot holds, meanwhile,
/// the context it shadows.
pub(crate) struct TaskEntered<'a>(&'a mut Current);

impl Drop for TaskEntered<'_> {
    #[inline]
    fn drop(&mut self) {
        swap_out_detached(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContextVar;

    static A: ContextVar<u32> = ContextVar::new("a");

    #[test]
    fn task_context_is_a_copy() {
        std::thread::spawn(|| {
            A.set(1);
            let mut task = TaskContext::capture();
            {
                let _in = task.enter();
                assert_eq!(A.get(), Some(1));
                A.set(2);
            }
            assert_eq!(A.get(), Some(1));
            assert_eq!(task.run(|| A.get()), Some(2));
        })
        .join()
        .unwrap();
    }
}
