//! The wrapper every runner task is spawned in: it enters the task's own copy
//! of the context around each poll (and around the drop that cancels it),
//! makes the task's runner current, times and tracks polls in debug mode (for
//! the task dump and lost-waker detection), and turns a panic into the task's
//! output, so that one nobody retrieves is reported (see `debug/lost.rs`).
//!
//! Tokio allocates a task's cell in multiples of 128 bytes (x86-64, aarch64),
//! and small futures leave little room: a raw task of a 16-byte future fills
//! its 128 bytes to within 8. So the wrapper adds one pointer: what a task
//! carries lives in one allocation of its own ([`Own`]), and the cell of a
//! small task stays in the raw task's size class.
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
use crate::debug::lost::{Panic, PanicNote};
use crate::debug::meta::TaskMeta;
use crate::debug::registry::Registration;
use crate::debug::track::{self, Spare, Tracked};
use crate::shared::LoopShared;

/// What a runner task's `JoinHandle` receives from Tokio: the future's
/// output, or its panic with the report to make if nobody reads it.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    /// The future completed.
    Value(T),
    /// The future panicked; dropping the note unread reports it as lost.
    Panicked(Box<PanicNote>),
}

/// Who a task is, carried by the task itself: the spawn site, and the name
/// when one was given (boxed: names are rare).
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

    /// A panic of this task with `message`, counted in the runner current
    /// on this thread.
    pub(crate) fn panic(&self, message: String) -> Panic {
        let (name, site) = match self {
            Ident::Unnamed(site) => (None, *site),
            Ident::Named(named) => (Some(named.0.clone()), named.1),
        };
        Panic {
            name,
            site,
            message,
            runner: current::runner()
                .map(|r| Arc::downgrade(&r.lost_panics))
                .unwrap_or_default(),
            dispatch: None,
        }
    }
}

/// The outcome of a task whose poll panicked with `payload`: its future is
/// dropped (in the task's context, which the caller entered), and the panic
/// becomes the task's output. A second panic while dropping it is reported
/// at once.
pub(crate) fn panicked<T>(
    ident: &Ident,
    payload: Box<dyn std::any::Any + Send>,
    drop_future: impl FnOnce(),
) -> Outcome<T> {
    let message = debug::panic_message(&*payload).to_owned();
    if let Err(second) = catch_unwind(AssertUnwindSafe(drop_future)) {
        dropped_panicking(ident, &*second);
    }
    Outcome::Panicked(PanicNote::new(payload, ident.panic(message)))
}

/// Reports a panic raised while the task's future was being dropped: it can
/// become no output, so nobody could retrieve it from the runner's side.
fn dropped_panicking(ident: &Ident, payload: &(dyn std::any::Any + Send)) {
    let message = debug::panic_message(payload);
    ident
        .panic(format!("while being dropped (cancelled): {message}"))
        .report();
}

/// The per-task state every spawn path takes at spawn time.
pub(super) struct Spawned {
    /// Who the task is.
    ident: Ident,
    /// The runner to make current around each poll: the spawner's, for a
    /// task that may be polled on another thread; `None` for a task of the
    /// loop's own thread, whose runner is current whenever it is polled.
    runner: Option<Arc<LoopShared>>,
    /// The task's place in debug mode's registry (its record shared with
    /// the handle and the task dump), dropped with the task.
    registration: Option<Registration>,
}

impl Spawned {
    /// Reads the spawner's runner and, in debug mode, registers the task.
    /// `local`: the task is polled by the loop's own thread.
    pub(super) fn new(name: Option<&str>, site: &'static Location<'static>, local: bool) -> Self {
        let runner = current::runner();
        let registration = runner
            .as_ref()
            .and_then(|r| r.debug.as_ref())
            .map(|debug| debug.registry.register(TaskMeta::new(name, site)));
        Spawned {
            ident: Ident::new(name, site),
            runner: if local { None } else { runner },
            registration,
        }
    }

    /// Debug mode's record of the task, for its `JoinHandle`.
    pub(super) fn tracked(&self) -> Option<Arc<Tracked>> {
        self.registration.as_ref().map(|r| r.tracked().clone())
    }

    /// The task to hand to Tokio; it runs in a copy of the current context.
    pub(super) fn wrap<F>(self, future: F) -> Task<F> {
        Task {
            future: Some(future),
            own: Box::new(Own {
                ctx: TaskContext::capture(),
                runner: self.runner,
                ident: self.ident,
                registration: self.registration,
            }),
        }
    }
}

/// What a runner task carries besides its future, in one allocation.
struct Own {
    /// The task's own copy of the context.
    ctx: TaskContext,
    /// The runner made current around each poll, if the thread's may differ.
    runner: Option<Arc<LoopShared>>,
    /// Who the task is, for reports.
    ident: Ident,
    /// Debug mode's record of the task.
    registration: Option<Registration>,
}

pin_project_lite::pin_project! {
    /// A runner task: the user's future plus what the task carries.
    pub(super) struct Task<F> {
        // `None` once complete or dropped: see the `PinnedDrop`.
        #[pin]
        future: Option<F>,
        own: Box<Own>,
    }

    // Cancelling a task drops its future: that runs in the task's context
    // (cleanup sees the task's variables, as asyncio runs a cancelled task's
    // handlers in its context). A panic there is reported at once (asyncio:
    // "unhandled exception during asyncio.run() shutdown") and resumed, so
    // that Tokio gives it to a `JoinHandle` that awaits the task.
    impl<F> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_none() {
                return;
            }
            let own = &mut **this.own;
            if let Some(registration) = &own.registration {
                // Wakers dropped with the future are not lost.
                registration.tracked().finish();
            }
            let _ctx = own.ctx.enter();
            let _runner = current::enter_task(&mut own.runner);
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
                dropped_panicking(&own.ident, &*payload);
                resume_unwind(payload)
            }
        }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let own = &mut **this.own;
        let _ctx = own.ctx.enter();
        let _runner = current::enter_task(&mut own.runner);
        let mut future = this.future;
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let poll = match own.registration.as_mut() {
                None => poll_future(future.as_mut(), cx),
                // Debug mode: tracked and timed.
                Some(registration) => {
                    let slow_poll = Some(registration.slow_poll());
                    let (tracked, spare) = registration.parts();
                    let task = || tracked.meta.task_name();
                    tracked.poll(spare, slow_poll, task, cx, |cx| {
                        poll_future(future.as_mut(), cx)
                    })
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
            Ok(Poll::Ready(value)) => Poll::Ready(Outcome::Value(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(panicked(&own.ident, payload, || future.set(None))),
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
    /// times and tracks polls in debug mode. A run in a given `Context` has
    /// no own context here: a `Scope` around this wrapper enters that one.
    pub(crate) struct MainTask<'a, F> {
        // `None` once complete or dropped.
        #[pin]
        future: Option<F>,
        ctx: Option<&'a mut TaskContext>,
        // Debug mode: the main task's entry in the registry, and when a poll
        // is slow.
        track: Option<MainTrack>,
        slow_poll: Option<Duration>,
    }

    impl<F> PinnedDrop for MainTask<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_none() {
                return;
            }
            if let Some(MainTrack(registration)) = this.track {
                // Wakers dropped with the future are not lost.
                registration.tracked().finish();
            }
            let _ctx = this.ctx.as_deref_mut().map(TaskContext::enter);
            future.set(None);
        }
    }
}

impl<'a, F> MainTask<'a, F> {
    /// The main task of the run called at `site`, of the runner `shared`, in
    /// `ctx` when given.
    pub(crate) fn new(
        future: F,
        ctx: Option<&'a mut TaskContext>,
        site: &'static Location<'static>,
        shared: &Arc<LoopShared>,
    ) -> Self {
        let track = shared.debug.as_ref().map(|debug| {
            let lost = &shared.lost_panics;
            let stop = lost.cancel_main.then(|| Arc::downgrade(lost));
            MainTrack(debug.registry.register_main(track::main_meta(site), stop))
        });
        MainTask {
            future: Some(future),
            ctx,
            track,
            slow_poll: shared.slow_poll(),
        }
    }
}

impl<F: Future> Future for MainTask<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _ctx = this.ctx.as_deref_mut().map(TaskContext::enter);
        let mut future = this.future;
        let poll = match this.track {
            None => poll_future(future.as_mut(), cx),
            // Debug mode: tracked and timed.
            Some(MainTrack(registration)) => {
                let (tracked, spare) = registration.parts();
                let task = || tracked.meta.task_name();
                tracked.poll(spare, *this.slow_poll, task, cx, |cx| {
                    poll_future(future.as_mut(), cx)
                })
            }
        };
        if poll.is_ready() {
            // Dropped here, in its context.
            future.set(None);
        }
        poll
    }
}

/// The main task's entry in the debug-mode registry, for the run.
struct MainTrack(Registration);

impl Drop for MainTrack {
    fn drop(&mut self) {
        self.0.tracked().finish();
    }
}

pin_project_lite::pin_project! {
    /// A future watched for a lost waker as the main task, without being a
    /// task of its own: the body of `#[runner::test]`, which runs beside the
    /// watchdog's cancellation inside the main task (whose own waker that
    /// cancellation keeps alive).
    pub(crate) struct Watched<F> {
        // Declared before the future, so dropped first: the wakers that go
        // with the future are not lost.
        watch: Option<Finish>,
        #[pin]
        future: F,
    }
}

/// Marks a watched future done when dropped.
struct Finish(Arc<Tracked>, Spare);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Watches `future` for a lost waker, reported as the main task of the run
/// this thread drives, and under `LostPanic::CancelMain` stopping it (debug
/// mode only; otherwise `future` runs as it is).
pub(crate) fn watch_main_body<F>(future: F) -> Watched<F> {
    let watch = current::runner().and_then(|shared| {
        let debug = shared.debug.as_ref()?;
        let site = current::running_loop()?;
        let lost = &shared.lost_panics;
        let stop = lost.cancel_main.then(|| Arc::downgrade(lost));
        let on_lost = debug.registry.on_lost(stop);
        let tracked = Arc::new(Tracked::watch_only(track::main_meta(site), on_lost));
        Some(Finish(tracked, Spare::default()))
    });
    Watched { watch, future }
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match this.watch {
            Some(Finish(tracked, spare)) => {
                let task = || tracked.meta.task_name();
                tracked.poll(spare, None, task, cx, |cx| this.future.poll(cx))
            }
            None => this.future.poll(cx),
        }
    }
}
