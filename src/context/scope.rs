//! [`Scope`]: a future that runs, and is dropped, inside a given context.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use super::handle::{AlreadyEntered, Context};
use super::task::TaskContext;

pin_project_lite::pin_project! {
    /// A future that runs in a given [`Context`]; see [`Context::scope`].
    ///
    /// # Examples
    ///
    /// ```
    /// static V: runner::ContextVar<u32> = runner::ContextVar::new("v");
    /// let ctx = runner::Context::new();
    /// let scoped: runner::Scope<_> = ctx.clone().scope(async { V.set(1) });
    /// runner::run(scoped).unwrap();
    /// assert_eq!(ctx.get(&V), Some(1));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Scope<F> {
        #[pin]
        inner: Scoped<Context, F>,
    }
}

impl<F> Scope<F> {
    pub(super) fn new(inner: Scoped<Context, F>) -> Self {
        Scope { inner }
    }
}

impl<F: Future> Future for Scope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for Scope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("ctx", self.inner.ctx.borrow())
            .finish()
    }
}

/// A future that runs in a borrowed [`Context`]: what `Context::scope_ref`
/// returns, for a runner's main task.
pub(crate) type ScopeRef<'a, F> = Scoped<&'a Context, F>;

pin_project_lite::pin_project! {
    /// The one implementation behind [`Scope`] (an owned handle) and
    /// [`ScopeRef`] (a borrowed one): polls and drops `future` inside `ctx`.
    pub(crate) struct Scoped<C, F>
    where
        C: Borrow<Context>,
    {
        // The context to run in.
        ctx: C,
        // `None` once completed (dropped then, inside the context).
        #[pin]
        future: Option<F>,
    }

    impl<C, F> PinnedDrop for Scoped<C, F>
    where
        C: Borrow<Context>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_none() {
                return;
            }
            let ctx: &Context = (*this.ctx).borrow();
            match ctx.try_enter() {
                Ok(_entered) => future.set(None),
                // Dropped inside its own context's `run` or poll: already in it.
                Err(AlreadyEntered) if ctx.is_current_here() => future.set(None),
                // Entered elsewhere (shadowed here, or on another thread):
                // cleanup still sees its values, its `set`s and resets (a
                // `SetGuard`'s) act on the copy and go nowhere.
                Err(AlreadyEntered) => {
                    TaskContext::throwaway_copy_of(ctx).run(|| future.set(None))
                }
            }
        }
    }
}

impl<C: Borrow<Context>, F> Scoped<C, F> {
    pub(super) fn new(ctx: C, future: F) -> Self {
        Scoped {
            ctx,
            future: Some(future),
        }
    }
}

impl<C: Borrow<Context>, F: Future> Future for Scoped<C, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _entered = (*this.ctx).borrow().enter();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("`Scope` polled after it completed");
        };
        let poll = future.poll(cx);
        if poll.is_ready() {
            // Dropped here, inside the context.
            this.future.set(None);
        }
        poll
    }
}
