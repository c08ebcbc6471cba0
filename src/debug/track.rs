//! What debug mode follows of each task while it lives: whether it is being
//! polled or idle and since when, which task spawned it, its Tokio id, and
//! whether anything can still wake it (lost-waker detection). The task dump
//! reads it; nothing here runs outside debug mode.
//!
//! Lost wakers: each poll hands the future a waker of its own, a
//! [`PollWaker`] around the one Tokio gave, and counts the ones alive. A
//! task whose poll returned `Pending`, that was not woken since that poll
//! began, and of whose wakers none is left can never be polled again: it is
//! reported when the last of them goes, at the end of the poll (the future
//! kept no clone) or later (the clone it kept was dropped without a wake).
//! Tokio's own primitives (timers, I/O, channels, `Notify`, join handles,
//! `yield_now`) keep a clone until they wake it, so they are never reported.
//!
//! The poll clock is the watchdog's coarse clock (see `watchdog.rs`): a poll
//! stamps its start and its end with one atomic load each. The one precise
//! reading per poll is kept on the stack for the slow-poll check, which
//! runs only for the polls the watchdog saw in progress ([`LONG`]).
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::task::{ArcWake, waker_ref};

use super::lost::LostPanics;
use super::meta::TaskMeta;
use super::report;
use super::watchdog;
use crate::Error;

thread_local! {
    /// The registered task being polled on this thread, and which of its
    /// polls (serial 0: none): the parent of whatever it spawns.
    static POLLING: Cell<PollId> = const { Cell::new(PollId::NONE) };
}

/// One poll of a registered task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PollId {
    /// The task's serial; 0 for none.
    pub(crate) serial: u64,
    /// The poll's number: how many polls of the task had begun when it did.
    pub(crate) poll: u64,
}

impl PollId {
    /// No task is being polled.
    pub(crate) const NONE: PollId = PollId { serial: 0, poll: 0 };
}

/// The poll of a registered task in progress on this thread, if any.
pub(crate) fn polling() -> PollId {
    POLLING.try_with(Cell::get).unwrap_or(PollId::NONE)
}

/// Serials start at 1; 0 means "no task".
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// Set in [`Tracked::clock`] while the task is being polled.
const POLLING_BIT: u64 = 1 << 63;

/// The last poll returned `Pending` and the task waits for a wake.
const WAITING: u8 = 1;
/// A waker of the task was woken since its last poll began.
const WOKEN: u8 = 2;
/// Completed, panicked, or being dropped: no wake is expected any more.
const DONE: u8 = 4;
/// Reported as having lost its waker.
const LOST: u8 = 8;
/// The watchdog saw the poll in progress: it may have been slow, so its end
/// reads the precise clock.
const LONG: u8 = 16;

/// What debug mode follows of one task.
#[derive(Debug)]
pub(crate) struct Tracked {
    /// Name, spawn site, whether its abort was asked for.
    pub(crate) meta: TaskMeta,
    /// Unique for the process; 0 for a watch that is not in a registry.
    pub(crate) serial: u64,
    /// The serial of the task that spawned it; 0 if none was being polled.
    pub(crate) parent: u64,
    /// A spawned task, the main task of a run, or blocking work.
    pub(crate) role: Role,
    /// Tokio's id, read at the first poll (the main task has none).
    id: OnceLock<tokio::task::Id>,
    /// [`POLLING_BIT`] while polled, plus the time of the last change
    /// (nanoseconds of the watchdog's clock).
    clock: AtomicU64,
    /// How many polls began; written by the polling thread alone.
    polls: AtomicU64,
    /// How many [`PollWaker`]s outlived their poll and are alive.
    wakers: AtomicUsize,
    /// [`WAITING`], [`WOKEN`], [`DONE`], [`LOST`], [`LONG`].
    flags: AtomicU8,
    /// No watchdog runs (it could not be started): every poll's end reads
    /// the precise clock.
    unwatched: bool,
    /// The serial of the task awaiting this one's `JoinHandle` (0: none);
    /// see `awaits.rs`.
    pub(crate) awaited_by: AtomicU64,
    /// The awaiter's poll that last polled the handle.
    pub(crate) awaited_at: AtomicU64,
    /// What a lost waker does besides the report.
    on_lost: OnLost,
}

/// What a tracked task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A task spawned with `spawn` or `spawn_local`.
    Task,
    /// The main task of a run.
    Main,
    /// A closure given to `spawn_blocking`: never polled; its clock's
    /// polling bit means "running on the blocking pool".
    Blocking,
}

/// What a lost waker does besides the WARN report.
#[derive(Debug, Default)]
pub(crate) struct OnLost {
    /// Set while the runner closes: tasks are being dropped, wakers with
    /// them, and nothing is expected to run any more.
    pub(crate) closing: Option<Arc<AtomicBool>>,
    /// For a main task under `LostPanic::CancelMain`: stop the run.
    pub(crate) stop: Option<Weak<LostPanics>>,
    /// `RUNNER_LOST_WAKER_PANICS`: panic after the report.
    pub(crate) panic: bool,
    /// Where the task's reports go.
    pub(crate) sink: report::Sink,
}

/// A snapshot of a task's state, for the dump.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    /// Being polled now.
    pub(crate) polling: bool,
    /// When the poll began, or the last one ended (or the task was made).
    pub(crate) since: Instant,
    /// Polls begun.
    pub(crate) polls: u64,
    /// Reported as having lost its waker.
    pub(crate) lost: bool,
    /// Tokio's id, if known.
    pub(crate) id: Option<tokio::task::Id>,
}

impl Tracked {
    /// Where the task's reports go.
    pub(crate) fn sink(&self) -> &report::Sink {
        &self.on_lost.sink
    }

    /// A task in `role`; its parent is the task being polled on this
    /// thread, if any (the main task has none).
    pub(crate) fn new(meta: TaskMeta, role: Role, on_lost: OnLost) -> Self {
        Tracked {
            meta,
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            parent: match role {
                Role::Main => 0,
                Role::Task | Role::Blocking => polling().serial,
            },
            role,
            id: OnceLock::new(),
            clock: AtomicU64::new(watchdog::coarse()),
            polls: AtomicU64::new(0),
            wakers: AtomicUsize::new(0),
            flags: AtomicU8::new(0),
            unwatched: !watchdog::running(),
            awaited_by: AtomicU64::new(0),
            awaited_at: AtomicU64::new(0),
            on_lost,
        }
    }

    /// A watch over a future that is not a task of its own (the body of a
    /// test, inside the main task): lost-waker detection only, no serial.
    pub(crate) fn watch_only(meta: TaskMeta, on_lost: OnLost) -> Self {
        Tracked {
            serial: 0,
            ..Tracked::new(meta, Role::Main, on_lost)
        }
    }

    /// Polls the future through `poll_fn` with a counting waker, keeping
    /// the poll state for the dump; reports the poll if it held the thread
    /// longer than `slow_poll`. `spare` keeps the last poll's waker when the
    /// future kept no clone of it, for the next poll to reuse.
    pub(crate) fn poll<'a, T>(
        self: &Arc<Self>,
        spare: &mut Spare,
        slow_poll: Option<Duration>,
        task: impl FnOnce() -> report::TaskName<'a>,
        cx: &mut Context<'_>,
        poll_fn: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // Only the thread polling the task writes the count.
        let poll = self.polls.load(Ordering::Relaxed) + 1;
        if poll == 1 {
            self.first_poll();
        }
        // Before the clock: see `poll_in_progress`.
        self.polls.store(poll, Ordering::Release);
        self.flags
            .fetch_and(!(WAITING | WOKEN | LONG), Ordering::AcqRel);
        self.clock
            .store(POLLING_BIT | watchdog::coarse(), Ordering::Release);
        let start = Instant::now();
        let ours = spare.ready(self, cx.waker());
        let id = PollId {
            serial: self.serial,
            poll,
        };
        let mut guard = PollGuard {
            task: self,
            id,
            prev: (self.serial != 0).then(|| POLLING.replace(id)),
            unwinding: true,
        };
        let result = poll_fn(&mut Context::from_waker(&waker_ref(ours)));
        guard.unwinding = false;
        drop(guard);
        // A waker kept beyond the poll is counted before the task is marked
        // waiting, so that its drop, wherever it happens, sees both. (The
        // poll's own waker is never cloned here: a count above one is the
        // future's clone.)
        let kept = spare.kept();
        if let Some(kept) = &kept {
            kept.counted.store(true, Ordering::Relaxed);
            self.wakers.fetch_add(1, Ordering::AcqRel);
        }
        self.clock.store(watchdog::coarse(), Ordering::Release);
        let ended = if result.is_pending() { WAITING } else { DONE };
        let before = self.flags.fetch_or(ended, Ordering::AcqRel);
        // The waker kept nothing, and nothing woke the task since the poll
        // began: unless a waker from an earlier poll lives, it is lost.
        // (`fetch_add(0)`, an RMW, not a load: it orders with the drop of a
        // kept waker, `PollWaker::drop`, so one of the two sees the other.)
        if kept.is_none()
            && ended == WAITING
            && before & (WOKEN | DONE | LOST) == 0
            && self.wakers.fetch_add(0, Ordering::AcqRel) == 0
        {
            self.last_waker_gone();
        }
        drop(kept);
        if before & LONG != 0 || self.unwatched {
            self.after_long_poll(start, slow_poll, task);
        }
        result
    }

    /// The task's first poll: Tokio's id is known now.
    #[cold]
    fn first_poll(&self) {
        if self.role != Role::Main {
            if let Some(id) = tokio::task::try_id() {
                let _ = self.id.set(id);
            }
        }
    }

    /// A poll the watchdog saw in progress has ended: it is stamped with the
    /// precise clock, and reported if it held the thread longer than
    /// `slow_poll`.
    #[cold]
    fn after_long_poll<'a>(
        &self,
        start: Instant,
        slow_poll: Option<Duration>,
        task: impl FnOnce() -> report::TaskName<'a>,
    ) {
        let end = Instant::now();
        self.clock.store(watchdog::nanos_at(end), Ordering::Release);
        let Some(threshold) = slow_poll else { return };
        let took = end.saturating_duration_since(start);
        if took > threshold {
            let task = task();
            self.on_lost
                .sink
                .emit(|| report::slow_poll_report(task, took, threshold));
        }
    }

    /// For the watchdog: it saw the poll in progress, so the poll's end
    /// checks how long it took.
    pub(crate) fn mark_long(&self) {
        self.flags.fetch_or(LONG, Ordering::AcqRel);
    }

    /// Blocking work: its closure starts running on the blocking pool (a
    /// Tokio task too, with an id).
    pub(crate) fn blocking_started(&self) {
        if let Some(id) = tokio::task::try_id() {
            let _ = self.id.set(id);
        }
        self.clock
            .store(POLLING_BIT | watchdog::coarse(), Ordering::Release);
    }

    /// Whether this is the main task of a run.
    pub(crate) fn is_main(&self) -> bool {
        self.role == Role::Main
    }

    /// How many polls of the task began.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Acquire)
    }

    /// The task is going away (dropped or cancelled): wakers dropped with
    /// its future are not lost.
    pub(crate) fn finish(&self) {
        self.flags.fetch_or(DONE, Ordering::AcqRel);
    }

    /// The task's state now.
    pub(crate) fn seen(&self) -> Seen {
        let clock = self.clock.load(Ordering::Acquire);
        Seen {
            polling: clock & POLLING_BIT != 0,
            since: watchdog::instant_at(clock & !POLLING_BIT),
            polls: self.polls.load(Ordering::Relaxed),
            lost: self.flags.load(Ordering::Acquire) & LOST != 0,
            id: self.id.get().copied(),
        }
    }

    /// For the watchdog: the poll in progress, if one is.
    pub(crate) fn poll_in_progress(&self) -> Option<PollId> {
        // The poll's number, then its clock, then the number again: a poll
        // writes its number before its clock, so two equal numbers around a
        // clock with the polling bit mean the clock is that poll's.
        let poll = self.polls.load(Ordering::Acquire);
        let clock = self.clock.load(Ordering::Acquire);
        if clock & POLLING_BIT == 0 || self.polls.load(Ordering::Acquire) != poll {
            return None;
        }
        Some(PollId {
            serial: self.serial,
            poll,
        })
    }

    /// A waker of the task was woken.
    fn woken(&self) {
        self.flags.fetch_or(WOKEN, Ordering::AcqRel);
    }

    /// The last live waker of the task is gone.
    fn last_waker_gone(&self) {
        let flags = self.flags.load(Ordering::Acquire);
        if flags & (WAITING | WOKEN | DONE | LOST) != WAITING {
            return;
        }
        if let Some(closing) = &self.on_lost.closing {
            if closing.load(Ordering::Acquire) {
                return;
            }
        }
        if self.flags.fetch_or(LOST, Ordering::AcqRel) & LOST != 0 {
            return;
        }
        self.report_lost();
    }

    #[cold]
    fn report_lost(&self) {
        let task = self.meta.task_name();
        self.on_lost.sink.emit(|| report::lost_waker(task));
        if let Some(lost) = self.on_lost.stop.as_ref().and_then(Weak::upgrade) {
            lost.stop.request(Error::LostWaker {
                task: task.name.to_owned(),
                spawned_at: task.site,
            });
        }
        if self.on_lost.panic && !std::thread::panicking() {
            panic!(
                "lost waker (RUNNER_LOST_WAKER_PANICS is set): task `{}` spawned at {}",
                task.name, task.site
            );
        }
    }
}

/// Ends a poll: puts the thread's polling task back; a poll that unwinds
/// leaves the task done (it panicked).
struct PollGuard<'a> {
    task: &'a Tracked,
    /// This poll.
    id: PollId,
    /// The poll that was in progress before, if this task set its own.
    prev: Option<PollId>,
    /// Still set when the poll unwinds.
    unwinding: bool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if let Some(prev) = self.prev {
            let _ = POLLING.try_with(|p| p.set(prev));
        }
        if self.unwinding {
            self.unwound();
        }
    }
}

impl PollGuard<'_> {
    #[cold]
    fn unwound(&self) {
        watchdog::unwound(self.id);
        let task = self.task;
        task.clock.store(watchdog::coarse(), Ordering::Release);
        task.flags.fetch_or(DONE, Ordering::AcqRel);
    }
}

/// The waker of a task's last poll, kept for the next when the future kept
/// no clone of it: saves an allocation per poll for tasks that wake
/// themselves or are woken through a clone they no longer hold.
#[derive(Debug, Default)]
pub(crate) struct Spare(Option<Arc<PollWaker>>);

impl Spare {
    /// The waker for a poll of `task`: the spare one (unique: nothing could
    /// clone it since its poll ended), else a new one.
    fn ready(&mut self, task: &Arc<Tracked>, tokio_waker: &Waker) -> &Arc<PollWaker> {
        match &mut self.0 {
            Some(spare) if spare.inner.will_wake(tokio_waker) => {}
            slot => Self::renew(slot, task, tokio_waker),
        }
        self.0.as_ref().expect("made ready above")
    }

    /// A spare waker for another Tokio waker, or a new one.
    #[cold]
    fn renew(slot: &mut Option<Arc<PollWaker>>, task: &Arc<Tracked>, tokio_waker: &Waker) {
        if let Some(spare) = slot.as_mut().and_then(Arc::get_mut) {
            spare.inner.clone_from(tokio_waker);
            return;
        }
        *slot = Some(Arc::new(PollWaker {
            inner: tokio_waker.clone(),
            task: task.clone(),
            counted: AtomicBool::new(false),
        }));
    }

    /// After a poll: the poll's waker if the future kept a clone of it (it
    /// is spare no more), else `None` (it stays, for the next poll).
    fn kept(&mut self) -> Option<Arc<PollWaker>> {
        match &self.0 {
            Some(waker) if Arc::strong_count(waker) > 1 => self.0.take(),
            _ => None,
        }
    }
}

/// The waker a tracked task's future gets for a poll: Tokio's, plus the
/// count of live wakers and the wake flag.
#[derive(Debug)]
pub(crate) struct PollWaker {
    /// The waker Tokio gave the poll.
    inner: Waker,
    /// The task it wakes.
    task: Arc<Tracked>,
    /// Kept beyond its poll, and so counted in the task's live wakers.
    counted: AtomicBool,
}

impl ArcWake for PollWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.inner.wake_by_ref();
        // After Tokio's wake: a poll that begins before this line may clear
        // the flag, but then Tokio already owes the task another poll, and a
        // report can at worst come one poll early, never for a task that
        // will run again.
        arc_self.task.woken();
    }
}

impl Drop for PollWaker {
    fn drop(&mut self) {
        if *self.counted.get_mut() && self.task.wakers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.task.last_waker_gone();
        }
    }
}

/// The main task's name for reports.
pub(crate) fn main_meta(site: &'static Location<'static>) -> TaskMeta {
    TaskMeta::new(Some("main"), site)
}

/// Whether `RUNNER_LOST_WAKER_PANICS` asks for a panic after each lost-waker
/// report (debug mode only).
pub(crate) fn env_lost_waker_panics() -> bool {
    report::env_flag("RUNNER_LOST_WAKER_PANICS")
}
