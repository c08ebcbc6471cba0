//! The wrapper every runner task is spawned in: it enters the task's own copy
//! of the context around each poll (and around the drop that cancels it),
//! makes the task's runner current, times polls in debug mode, and notices a
//! panic so that one nobody retrieves is reported rather than lost.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::context::TaskContext;
use crate::current;
use crate::debug;
use crate::lost::{self, Panic};
use crate::meta::{Registration, TaskMeta};
use crate::shared::LoopShared;

/// Who a task is, carried by the task itself: the spawn site, and the name
/// when one was given (boxed: names are rare, the wrapper stays small).
pub(crate) enum Ident {
    /// An unnamed task spawned here.
    Unnamed(&'static Location<'static>),
    /// A named task, and where it was spawned.
    Named(Box<(Box<str>, &'static Location<'static>)>),
}

impl Ident {
    pub(crate) fn new(name: Option<&str>, site: &'static Location<'static>) -> Self {
        match name {
            None => Ident::Unnamed(site),
            Some(name) => Ident::Named(Box::new((name.into(), site))),
        }
    }

    /// A panic of this task, for the lost-panic report.
    pub(crate) fn panic(&self, message: String, runner: Option<&Arc<LoopShared>>) -> Panic {
        let (name, site) = match self {
            Ident::Unnamed(site) => (None, *site),
            Ident::Named(named) => (Some(named.0.clone()), named.1),
        };
        Panic {
            name,
            site,
            message,
            runner: runner
                .map(|r| Arc::downgrade(&r.lost_panics))
                .unwrap_or_default(),
        }
    }
}

/// Debug mode's record of a task and its place in the registry, dropped
/// with the task.
pub(super) struct DebugTask {
    /// Shared with the registry and the task's `JoinHandle`.
    meta: Arc<TaskMeta>,
    /// Leaves the registry when dropped.
    _registration: Registration,
}

/// The per-task state every spawn path takes at spawn time.
pub(super) struct Spawned {
    /// Who the task is.
    pub(super) ident: Ident,
    /// The spawner's runner, if it runs inside one.
    pub(super) runner: Option<Arc<LoopShared>>,
    /// Debug mode's record, shared with the handle.
    pub(super) meta: Option<Arc<TaskMeta>>,
    /// The registry entry, in debug mode.
    registration: Option<Registration>,
}

impl Spawned {
    /// Reads the spawner's runner and, in debug mode, registers the task.
    pub(super) fn new(name: Option<&str>, site: &'static Location<'static>) -> Self {
        let runner = current::runner();
        let debug = runner.as_ref().and_then(|r| r.debug.as_ref());
        let (meta, registration) = match debug {
            None => (None, None),
            Some(debug) => {
                let meta = Arc::new(TaskMeta::new(name, site));
                let registration = debug.registry.register(&meta);
                (Some(meta), Some(registration))
            }
        };
        Spawned {
            ident: Ident::new(name, site),
            runner,
            meta,
            registration,
        }
    }

    /// The task to hand to Tokio; it runs in a copy of the current context.
    pub(super) fn wrap<F>(self, future: F) -> Task<F> {
        let debug = match (self.meta, self.registration) {
            (Some(meta), Some(registration)) => Some(Box::new(DebugTask {
                meta,
                _registration: registration,
            })),
            _ => None,
        };
        Task {
            future: Some(future),
            ctx: TaskContext::capture(),
            runner: self.runner,
            ident: self.ident,
            debug,
        }
    }
}

pin_project_lite::pin_project! {
    /// A runner task: the user's future plus what the task carries.
    pub(super) struct Task<F> {
        // `None` once complete or dropped: see the `PinnedDrop`.
        #[pin]
        future: Option<F>,
        ctx: TaskContext,
        // Also where debug mode's settings are read from.
        runner: Option<Arc<LoopShared>>,
        ident: Ident,
        debug: Option<Box<DebugTask>>,
    }

    // Cancelling a task drops its future: that runs in the task's context
    // (cleanup sees the task's variables, as asyncio runs a cancelled task's
    // handlers in its context), and a panic there is recorded like one in a
    // poll, so a task that fails while `close` cancels it is reported rather
    // than lost (asyncio: "unhandled exception during asyncio.run()
    // shutdown"). Tokio catches the panic itself into the `JoinHandle`.
    impl<F> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_none() {
                return;
            }
            let _ctx = this.ctx.enter();
            let _runner = current::enter_task(this.runner);
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
                let message = debug::panic_message(&*payload);
                let message = format!("while being dropped (cancelled): {message}");
                // The task's runner is the current one while it is entered.
                let panic = this.ident.panic(message, current::runner().as_ref());
                lost::task_panicked(tokio::task::try_id(), panic);
                resume_unwind(payload)
            }
        }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let slow_poll = this
            .debug
            .as_ref()
            .and_then(|_| this.runner.as_ref()?.slow_poll());
        let _ctx = this.ctx.enter();
        let _runner = current::enter_task(this.runner);
        let mut future = this.future;
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let poll = match this.debug {
                None => poll_future(future.as_mut(), cx),
                Some(debug) => {
                    let meta = &debug.meta;
                    debug::timed_poll(
                        slow_poll,
                        || meta.task_name(),
                        || poll_future(future.as_mut(), cx),
                    )
                }
            };
            if poll.is_ready() {
                // Dropped here, in the task's context, so the wrapper's own
                // drop has nothing left to do for a task that completed.
                future.set(None);
            }
            poll
        }));
        match polled {
            Ok(poll) => poll,
            Err(payload) => {
                let message = debug::panic_message(&*payload).to_owned();
                // The task's runner is the current one while it is entered.
                let panic = this.ident.panic(message, current::runner().as_ref());
                lost::task_panicked(tokio::task::try_id(), panic);
                resume_unwind(payload)
            }
        }
    }
}

fn poll_future<F: Future>(
    future: Pin<&mut Option<F>>,
    cx: &mut std::task::Context<'_>,
) -> Poll<F::Output> {
    future
        .as_pin_mut()
        .expect("tokio does not poll a task after it completed")
        .poll(cx)
}

pin_project_lite::pin_project! {
    /// The main task's wrapper: enters the runner's own context around each
    /// poll and around the drop of the future (whatever ends the run), and
    /// times polls in debug mode. A run in a given `Context` has no own
    /// context here: a `Scope` around this wrapper enters that one.
    pub(crate) struct MainTask<'a, F> {
        // `None` once complete or dropped.
        #[pin]
        future: Option<F>,
        ctx: Option<&'a mut TaskContext>,
        meta: &'a TaskMeta,
        slow_poll: Option<Duration>,
    }

    impl<F> PinnedDrop for MainTask<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_none() {
                return;
            }
            let _ctx = this.ctx.as_deref_mut().map(TaskContext::enter);
            future.set(None);
        }
    }
}

impl<'a, F> MainTask<'a, F> {
    /// The main task of the run called at `site`, in `ctx` when given.
    pub(crate) fn new(
        future: F,
        ctx: Option<&'a mut TaskContext>,
        meta: &'a mut TaskMeta,
        site: &'static Location<'static>,
        slow_poll: Option<Duration>,
    ) -> Self {
        meta.set_site(site);
        MainTask {
            future: Some(future),
            ctx,
            meta,
            slow_poll,
        }
    }
}

impl<F: Future> Future for MainTask<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _ctx = this.ctx.as_deref_mut().map(TaskContext::enter);
        let (mut future, meta) = (this.future, *this.meta);
        let poll = debug::timed_poll(
            *this.slow_poll,
            || meta.task_name(),
            || poll_future(future.as_mut(), cx),
        );
        if poll.is_ready() {
            // Dropped here, in its context.
            future.set(None);
        }
        poll
    }
}
