//! The wrapper every runner task is spawned in: it enters the task's own copy
//! of the context around each poll (and around the drop that cancels it),
//! and the `tracing` span current at spawn, makes the task's runner current,
//! times and tracks polls in debug mode (for the task dump and lost-waker
//! detection), and turns a panic into the task's output, so that one nobody
//! retrieves is reported (see `debug/lost.rs`).
//!
//! Tokio allocates a task's cell in multiples of 128 bytes (x86-64, aarch64),
//! and small futures leave little room: a raw task of a 16-byte future fills
//! its 128 bytes to within 8. So the wrapper adds one pointer: what a task
//! carries lives in one allocation of its own ([`Own`]), and the cell of a
//! small task stays in the raw task's size class.
#![forbid(unsafe_code)]

use std::future::Future;
use std::mem;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::context::TaskContext;
use crate::context::{self, TaskKind};
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
    /// The future was dropped: the runner closed, and the task did not
    /// listen for cancellation (or its grace expired).
    Dropped,
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
    /// The task as reports name it.
    pub(crate) fn name(&self) -> debug::TaskName<'_> {
        match self {
            Ident::Unnamed(site) => debug::TaskName {
                name: "unnamed",
                site,
            },
            Ident::Named(named) => debug::TaskName {
                name: &named.0,
                site: named.1,
            },
        }
    }

    pub(crate) fn new(name: Option<&str>, site: &'static Location<'static>) -> Self {
        match name {
            None => Ident::Unnamed(site),
            Some(name) => Ident::Named(Box::new((name.into(), site))),
        }
    }

    /// A panic of this task with `message`, counted in `runner`.
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
            dispatch: None,
        }
    }
}

/// Reports a panic raised while the task's future was being dropped: it can
/// become no output, so nobody could retrieve it from the runner's side.
fn dropped_panicking(
    ident: &Ident,
    runner: Option<&Arc<LoopShared>>,
    registration: Option<&Registration>,
    payload: &(dyn std::any::Any + Send),
) {
    let message = debug::panic_message(payload);
    let message = format!("while being dropped (cancelled): {message}");
    let mut panic = ident.panic(message, runner);
    panic.dispatch = sink_of(registration);
    panic.report();
}

/// In debug mode, the subscriber a task's reports go to: the one current
/// where its run was called.
fn sink_of(registration: Option<&Registration>) -> Option<tracing::Dispatch> {
    registration.and_then(|r| r.tracked().sink().dispatch())
}

/// The `tracing` span a task spawned here runs in: the current one, unless
/// the spawner's runner opted out (`Builder::inherit_span(false)`). When no
/// subscriber is interested in anything, one check.
#[inline]
pub(super) fn spawner_span(runner: Option<&Arc<LoopShared>>) -> Option<tracing::Span> {
    if tracing_is_off() {
        return None;
    }
    current_span(runner)
}

/// Whether no subscriber is interested in anything: then no span can be
/// current.
#[inline]
fn tracing_is_off() -> bool {
    tracing::level_filters::LevelFilter::current() == tracing::level_filters::LevelFilter::OFF
}

#[inline(never)]
fn current_span(runner: Option<&Arc<LoopShared>>) -> Option<tracing::Span> {
    if runner.is_some_and(|r| !r.inherit_span) {
        return None;
    }
    let span = tracing::Span::current();
    (!span.is_none()).then_some(span)
}

/// The per-task state every spawn path takes at spawn time.
pub(super) struct Spawned {
    /// Who the task is.
    ident: Ident,
    /// The spawner's runner, if it runs inside one.
    runner: Option<Arc<LoopShared>>,
    /// Polled by a thread whose current runner may differ (not the loop's
    /// own thread): the task's runner is made current around each poll.
    swap_runner: bool,
    /// The task's place in debug mode's registry (its record shared with
    /// the handle and the task dump), dropped with the task.
    registration: Option<Registration>,
    /// Spawned while its runner closes: `close` does not cancel it.
    born_closing: bool,
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
        let born_closing = runner.as_ref().is_some_and(|r| r.parked.is_closing());
        Spawned {
            ident: Ident::new(name, site),
            runner,
            swap_runner: !local,
            registration,
            born_closing,
        }
    }

    /// Debug mode's record of the task, for its `JoinHandle`.
    pub(super) fn tracked(&self) -> Option<Arc<Tracked>> {
        self.registration.as_ref().map(|r| r.tracked().clone())
    }

    /// The task to hand to Tokio; it runs in a copy of the current context.
    pub(super) fn wrap<F>(self, future: F) -> Task<F> {
        let rare = Rare::at_spawn(self.runner.as_ref());
        Task {
            future: Some(future),
            own: Box::new(Own {
                ctx: TaskContext::for_task(),
                runner: self.runner,
                swap_runner: self.swap_runner,
                ident: self.ident,
                registration: self.registration,
                rare,
                parked: None,
                born_closing: self.born_closing,
            }),
        }
    }
}

/// What a runner task carries besides its future, in one allocation.
struct Own {
    /// The task's own copy of the context, which also holds its
    /// cancellation state once it listens (see `context::TaskSlot`).
    ctx: TaskContext,
    /// The task's runner (lent to the thread during a poll when swapped).
    runner: Option<Arc<LoopShared>>,
    /// Make `runner` current around each poll.
    swap_runner: bool,
    /// Who the task is, for reports.
    ident: Ident,
    /// Debug mode's record of the task.
    registration: Option<Registration>,
    /// What few tasks need: the spawner's span, a cancel grace.
    rare: Option<Box<Rare>>,
    /// Where `close` finds the task while it waits (in its runner's
    /// `Parked`), once it has waited.
    parked: Option<usize>,
    /// Spawned while its runner closes: `close` does not cancel it.
    born_closing: bool,
}

/// What only some tasks carry, in an allocation of its own made when first
/// needed, so that the others carry one word for it (`Own` stays a 104-byte
/// allocation, in malloc's fast bins; a span inline, 40 bytes, cost a
/// spawn+await about 200 instructions).
#[derive(Default)]
struct Rare {
    /// The `tracing` span the task runs in: the spawner's.
    span: Option<tracing::Span>,
    /// When a requested task that listens must be done.
    grace: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Rare {
    /// What a task spawned here carries from the start: the spawner's span,
    /// if there is one to inherit.
    #[inline]
    fn at_spawn(runner: Option<&Arc<LoopShared>>) -> Option<Box<Rare>> {
        if tracing_is_off() {
            return None;
        }
        Self::with_span(runner)
    }

    #[inline(never)]
    fn with_span(runner: Option<&Arc<LoopShared>>) -> Option<Box<Rare>> {
        let span = current_span(runner)?;
        Some(Box::new(Rare {
            span: Some(span),
            grace: None,
        }))
    }

    /// Enters the task's span, if it has one, until the guard drops.
    #[inline]
    fn enter(rare: &Option<Box<Rare>>) -> Option<tracing::span::Entered<'_>> {
        match rare {
            None => None,
            Some(rare) => rare.enter_span(),
        }
    }

    #[inline(never)]
    fn enter_span(&self) -> Option<tracing::span::Entered<'_>> {
        self.span.as_ref().map(tracing::Span::enter)
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        if let Some(coop) = self.ctx.listener() {
            coop.ended();
        }
        if let (Some(key), Some(runner)) = (self.parked, &self.runner) {
            runner.parked.leave(key);
        }
    }
}

impl Own {
    /// What the task does about cancellation before its future is polled:
    /// `None` to poll the future, or how the task ends. A task alive when
    /// its runner began to close is asked to cancel if it listens, else
    /// dropped; a requested task that listens is dropped once its grace has
    /// expired.
    fn before_poll(&mut self, closing: bool, cx: &mut std::task::Context<'_>) -> Option<Ending> {
        let coop = self.ctx.listener();
        if closing {
            match (coop, &self.runner) {
                (Some(coop), Some(runner)) if !coop.is_requested() => runner.parked.ask(coop),
                (Some(_), _) => {}
                (None, _) => return Some(Ending::Dropped),
            }
        }
        coop.filter(|c| c.is_requested())?;
        // The grace starts after the first poll that sees the request, if
        // that poll does not end the task (`after_pending`): a task that
        // ends at once needs no timer.
        let sleep = self.rare.as_mut()?.grace.as_mut()?;
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Some(Ending::GraceExpired),
            Poll::Pending => None,
        }
    }

    /// Ends the task for its cancellation: drops its future (inside its
    /// context and runner) and completes it, or has Tokio drop it.
    fn end<T, F>(&mut self, future: Pin<&mut Option<F>>, ending: Ending) -> Poll<Outcome<T>> {
        let abort = match ending {
            Ending::Dropped => None,
            Ending::GraceExpired => {
                self.report_grace_expired();
                self.ctx.listener().and_then(|c| c.take_abort())
            }
        };
        let _ = self.drop_future(future);
        match abort {
            Some(abort) => {
                abort.abort();
                Poll::Pending
            }
            None => Poll::Ready(Outcome::Dropped),
        }
    }

    /// Drops the future inside the task's context and runner; a panic there
    /// is reported, and returned.
    fn drop_future<F>(&mut self, mut future: Pin<&mut Option<F>>) -> std::thread::Result<()> {
        if let Some(registration) = &self.registration {
            // Wakers dropped with the future are not lost.
            registration.tracked().finish();
        }
        let Own {
            ctx,
            runner,
            swap_runner,
            ident,
            registration,
            rare,
            ..
        } = self;
        let dropped = {
            let _span = Rare::enter(rare);
            let _ctx = ctx.enter();
            let _runner = if *swap_runner {
                current::enter_task(runner)
            } else {
                None
            };
            catch_unwind(AssertUnwindSafe(|| future.set(None)))
        };
        if let Err(payload) = &dropped {
            dropped_panicking(ident, runner.as_ref(), registration.as_ref(), &**payload);
        }
        dropped
    }

    /// Reports, in debug mode, a task that listened for cancellation and
    /// was still running when its grace ended.
    fn report_grace_expired(&self) {
        if let Some(registration) = &self.registration {
            let grace = self.ctx.listener().map_or(Duration::ZERO, |c| c.grace);
            let task = self.ident.name();
            registration
                .tracked()
                .sink()
                .emit(|| debug::grace_expired(task, grace));
        }
    }

    /// After a poll that returned `Pending`: a task that began to listen
    /// keeps its waker for requests, a requested one starts its grace, and
    /// a task waits where `close` can find it.
    #[cold]
    fn after_pending(&mut self, listened: bool, cx: &mut std::task::Context<'_>) {
        if let Some(coop) = self.ctx.listener() {
            if !listened {
                // It listens from now on: a request wakes it.
                coop.set_task_waker(cx.waker());
            }
            if coop.is_requested() && self.rare.as_ref().is_none_or(|r| r.grace.is_none()) {
                // Asked before or during this poll, and not done: its grace
                // starts now.
                let rare = self.rare.get_or_insert_with(Box::default);
                let sleep = rare.grace.insert(Box::pin(tokio::time::sleep(coop.grace)));
                if sleep.as_mut().poll(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
            }
        }
        if self.parked.is_none() {
            if let Some(runner) = &self.runner {
                self.parked = Some(runner.parked.park(cx.waker()));
            }
        }
    }
}

/// How a task ends for its cancellation.
enum Ending {
    /// Its future is dropped, and it completes as [`Outcome::Dropped`].
    Dropped,
    /// It listened, and its grace after a request is over: reported in
    /// debug mode, then dropped by Tokio if its requester gave the task's
    /// abort handle (a cancelled `JoinError`, as `abort` gives), else as
    /// [`Ending::Dropped`].
    GraceExpired,
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
            let future = this.future;
            if future.is_none() {
                return;
            }
            let own = &mut **this.own;
            let closing = own.runner.as_ref().is_some_and(|r| r.parked.is_closing());
            if closing && own.ctx.listener().is_some_and(|c| c.is_requested()) {
                // Still running when `close` stopped waiting for it.
                own.report_grace_expired();
            }
            if let Err(payload) = own.drop_future(future) {
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
        let mut future = this.future;
        let closing = own
            .runner
            .as_ref()
            .is_some_and(|r| r.parked.is_closing() && !own.born_closing);
        let listened = own.ctx.listener().is_some();
        if closing || listened {
            if let Some(ending) = own.before_poll(closing, cx) {
                return own.end(future, ending);
            }
        }
        let polled = {
            let Own {
                ctx,
                runner,
                swap_runner,
                registration,
                rare,
                ..
            } = own;
            let _ctx = ctx.enter();
            let _runner = if *swap_runner {
                current::enter_task(runner)
            } else {
                None
            };
            let _span = Rare::enter(rare);
            poll_task(future.as_mut(), registration.as_mut(), cx)
        };
        match polled {
            Ok(Poll::Ready(value)) => Poll::Ready(Outcome::Value(value)),
            Ok(Poll::Pending) => {
                if own.parked.is_none() || own.ctx.listener().is_some() {
                    own.after_pending(listened, cx);
                }
                Poll::Pending
            }
            Err(payload) => {
                let message = debug::panic_message(&*payload).to_owned();
                let _ = own.drop_future(future);
                let mut panic = own.ident.panic(message, own.runner.as_ref());
                panic.dispatch = sink_of(own.registration.as_ref());
                Poll::Ready(Outcome::Panicked(PanicNote::new(payload, panic)))
            }
        }
    }
}

/// Polls a task's future (its context and runner entered by the caller),
/// tracked and timed in debug mode, and drops it once it is ready; a panic
/// is caught.
fn poll_task<F: Future>(
    mut future: Pin<&mut Option<F>>,
    registration: Option<&mut Registration>,
    cx: &mut std::task::Context<'_>,
) -> std::thread::Result<Poll<F::Output>> {
    catch_unwind(AssertUnwindSafe(|| {
        let poll = match registration {
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
            // Dropped here, in the task's context, so the wrapper's own drop
            // has nothing left to do for a task that completed.
            future.set(None);
        }
        poll
    }))
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
            let _main = this.ctx.is_none().then(MainMark::enter);
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
        // The runner's own context is marked once; another one (`run_in`)
        // is marked for each poll.
        let _main = this.ctx.is_none().then(MainMark::enter);
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

/// Marks the current context as the main task's for a poll (or the drop)
/// of a main task that runs in a context of the caller's (`run_in`).
struct MainMark(Option<TaskKind>);

impl MainMark {
    fn enter() -> Self {
        MainMark(context::with_task(|task| {
            mem::replace(&mut task.kind, TaskKind::Main)
        }))
    }
}

impl Drop for MainMark {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            context::with_task(|task| task.kind = prev);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's extra state stays a 104-byte allocation: within glibc's
    /// fast bins (up to 120 bytes), where a spawn+await costs about 200
    /// instructions less than with a 144-byte `Own`, and 70 less than with
    /// a 112-byte one.
    #[test]
    fn own_stays_small() {
        assert!(
            std::mem::size_of::<Own>() <= 104,
            "{}",
            std::mem::size_of::<Own>()
        );
    }
}
