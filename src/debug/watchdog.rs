//! The watchdog: one thread per process, serving every debug-mode runner
//! from its first run until it closes, that names a poll holding its thread
//! longer than the runner's slow-poll threshold *while it still holds it*
//! (a blocking call in async code, named before it returns, or if it never
//! does). The slow-poll report after the poll stays; this one comes first.
//!
//! It wakes every quarter of the smallest threshold it serves (at least
//! every millisecond, at most every quarter second), reads each task's poll
//! clock ([`Tracked::clock`](super::track)) and reports each poll once. It
//! never waits on a lock a stuck thread may hold: the lists it reads are
//! taken with `try_lock`, and a busy one is skipped until the next tick.
//! With no runner to watch it sleeps until one comes.
//!
//! It also keeps debug mode's clock: at each tick it stores the time in
//! [`COARSE`], which polls and spawns read instead of the system clock (one
//! load instead of a clock reading and a conversion). The clock is behind by
//! at most a tick, so a poll's stamps are early by as much: the dump's
//! "for how long" is rounded up by at most a tick. How long a poll held its
//! thread is judged on the watchdog's own readings: a poll it has seen in
//! progress at two ticks further apart than the threshold has held its
//! thread at least that long. Each poll it sees is marked ([`mark_long`]),
//! and only a marked poll reads the precise clock when it ends, for the
//! slow-poll report after the poll.
//!
//! [`mark_long`]: super::track::Tracked::mark_long
//!
//! A poll that panics runs the panic hook before it unwinds, and with
//! `RUST_BACKTRACE` set the hook can hold the thread past the threshold
//! while it prints the backtrace. That is no blocking call: a hook that
//! wraps the program's own marks the poll as unwinding, and the watchdog
//! leaves it alone (the report after a poll was never made for a poll that
//! unwinds, either).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::registry::Watch;
use super::report::{self, TaskName};
use super::track::{self, PollId, Role};
use crate::sync::{lock, try_lock};

/// The shortest sleep between two looks.
const MIN_PERIOD: Duration = Duration::from_millis(1);
/// The longest sleep between two looks.
const MAX_PERIOD: Duration = Duration::from_millis(250);

/// The runners being watched (added at a runner's first run, dropped once it
/// closes or is gone).
static WATCHED: Mutex<Vec<Weak<Watch>>> = Mutex::new(Vec::new());
/// The watchdog thread, started with the first runner (`None` if it could
/// not be started: then only the report after a poll is made).
static THREAD: OnceLock<Option<Thread>> = OnceLock::new();
/// Polls whose panic hook has run (they are unwinding, or caught the panic
/// themselves), with the watchdog's tick when they were marked.
static UNWINDING: Mutex<Vec<(PollId, u64)>> = Mutex::new(Vec::new());
/// The watchdog's ticks so far.
static TICKS: AtomicU64 = AtomicU64::new(0);
/// Debug mode's clock: nanoseconds from [`epoch`] at the last tick (or run
/// start); 0 while no watchdog runs, and then [`coarse`] reads the system
/// clock.
static COARSE: AtomicU64 = AtomicU64::new(0);

/// The instant debug mode's clock counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from [`epoch`] to `at` (63 bits: the top one is the poll
/// clock's polling bit).
pub(crate) fn nanos_at(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX) & (u64::MAX >> 1)
}

/// The instant `nanos` after [`epoch`].
pub(crate) fn instant_at(nanos: u64) -> Instant {
    epoch() + Duration::from_nanos(nanos)
}

/// Debug mode's clock: the time of the watchdog's last tick, as
/// [`nanos_at`] gives it.
#[inline]
pub(crate) fn coarse() -> u64 {
    match COARSE.load(Ordering::Relaxed) {
        0 => precise(),
        nanos => nanos,
    }
}

/// The system clock, as [`nanos_at`] gives it (while no watchdog runs).
#[cold]
fn precise() -> u64 {
    nanos_at(Instant::now())
}

/// Whether the watchdog runs (then [`coarse`] follows it, and it marks
/// the polls that may be slow).
pub(crate) fn running() -> bool {
    matches!(THREAD.get(), Some(Some(_)))
}

/// Watches `watch`'s polls until its runner closes.
pub(crate) fn watch(watch: &Arc<Watch>) {
    let thread = THREAD.get_or_init(|| {
        mark_unwinding_polls();
        std::thread::Builder::new()
            .name("runner-watchdog".into())
            .spawn(run)
            .ok()
            .map(|handle| handle.thread().clone())
    });
    // Without the thread nobody would read the list, nor prune it.
    if let Some(thread) = thread {
        lock(&WATCHED).push(Arc::downgrade(watch));
        // Fresh for the run about to start, however long the watchdog slept.
        COARSE.store(nanos_at(Instant::now()).max(1), Ordering::Relaxed);
        thread.unpark();
    }
}

/// A run begins: debug mode's clock is brought up to date, however long
/// the watchdog has been asleep.
pub(crate) fn refresh() {
    if running() {
        COARSE.store(nanos_at(Instant::now()).max(1), Ordering::Relaxed);
    }
}

/// Wraps the panic hook (once per process) so that the poll a panic starts
/// in is marked before the hook runs.
fn mark_unwinding_polls() {
    if std::thread::panicking() {
        // The hook cannot be changed from a panicking thread.
        return;
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let poll = track::polling();
        if poll.serial != 0 {
            let tick = TICKS.load(std::sync::atomic::Ordering::Relaxed);
            lock(&UNWINDING).push((poll, tick));
        }
        hook(info);
    }));
}

/// A poll that panicked has unwound.
#[cold]
pub(crate) fn unwound(poll: PollId) {
    lock(&UNWINDING).retain(|(p, _)| *p != poll);
}

/// The watchdog's loop.
fn run() {
    let mut watched: Vec<Weak<Watch>> = Vec::new();
    let mut seen = Sightings::default();
    loop {
        if let Some(mut list) = try_lock(&WATCHED) {
            list.retain(|w| w.upgrade().is_some_and(|w| !w.is_closing()));
            watched.clone_from(&list);
        }
        let live: Vec<Arc<Watch>> = watched.iter().filter_map(Weak::upgrade).collect();
        if live.is_empty() {
            seen = Sightings::default();
            // Until `watch` unparks it.
            std::thread::park();
            continue;
        }
        let now = Instant::now();
        COARSE.store(nanos_at(now).max(1), Ordering::Relaxed);
        let tick = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
        let unwinding: Vec<PollId> = match try_lock(&UNWINDING) {
            Some(mut marked) => {
                // A mark older than the last tick whose poll is not in
                // progress any more (a panic caught inside the poll) goes.
                marked.retain(|(poll, at)| *at + 1 >= tick || seen.first.contains_key(poll));
                marked.iter().map(|(poll, _)| *poll).collect()
            }
            None => Vec::new(),
        };
        let mut next = Sightings::default();
        for watch in &live {
            look(watch, now, &unwinding, &seen, &mut next);
        }
        seen = next;
        let threshold = live.iter().map(|w| w.slow_poll).min();
        drop(live);
        std::thread::park_timeout(period(threshold.unwrap_or(MAX_PERIOD)));
    }
}

/// The polls the watchdog saw in progress at its last tick.
#[derive(Debug, Default)]
struct Sightings {
    /// Each poll, when it was first seen, and whether it was reported.
    first: HashMap<PollId, (Instant, bool)>,
}

/// How long the watchdog sleeps between two looks at runners whose
/// smallest threshold is `threshold`.
fn period(threshold: Duration) -> Duration {
    (threshold / 4).clamp(MIN_PERIOD, MAX_PERIOD)
}

/// Reports each poll of `watch`'s runner seen in progress further apart
/// than the threshold, once per poll, except those that are `unwinding`;
/// marks each poll seen, so that its end checks how long it took.
fn look(watch: &Watch, now: Instant, unwinding: &[PollId], seen: &Sightings, next: &mut Sightings) {
    let mut held = Vec::new();
    watch.try_each(|task| {
        if task.role == Role::Blocking {
            // Blocking work is meant to hold its thread.
            return;
        }
        let Some(poll) = task.poll_in_progress() else {
            return;
        };
        task.mark_long();
        let (first, mut reported) = seen.first.get(&poll).copied().unwrap_or((now, false));
        let so_far = now.saturating_duration_since(first);
        if !reported && so_far > watch.slow_poll && !unwinding.contains(&poll) {
            reported = true;
            held.push((task.clone(), so_far));
        }
        next.first.insert(poll, (first, reported));
    });
    // Reported outside the task list's lock.
    for (task, for_how_long) in held {
        let name: TaskName<'_> = task.meta.task_name();
        watch
            .sink
            .emit(|| report::still_polling(name, for_how_long, watch.slow_poll));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_sleeps_a_quarter_of_the_threshold_within_bounds() {
        assert_eq!(
            period(Duration::from_millis(100)),
            Duration::from_millis(25)
        );
        assert_eq!(period(Duration::ZERO), MIN_PERIOD);
        assert_eq!(period(Duration::from_secs(60)), MAX_PERIOD);
    }
}
