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
//! A poll that panics runs the panic hook before it unwinds, and with
//! `RUST_BACKTRACE` set the hook can hold the thread past the threshold
//! while it prints the backtrace. That is no blocking call: a hook that
//! wraps the program's own marks the poll as unwinding, and the watchdog
//! leaves it alone (the report after a poll was never made for a poll that
//! unwinds, either).
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::registry::Watch;
use super::report::{self, TaskName};
use super::track::{self, PollId};
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
static TICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Watches `watch`'s polls until its runner closes.
pub(crate) fn watch(watch: &Arc<Watch>) {
    lock(&WATCHED).push(Arc::downgrade(watch));
    let thread = THREAD.get_or_init(|| {
        mark_unwinding_polls();
        std::thread::Builder::new()
            .name("runner-watchdog".into())
            .spawn(run)
            .ok()
            .map(|handle| handle.thread().clone())
    });
    if let Some(thread) = thread {
        thread.unpark();
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
    loop {
        if let Some(mut list) = try_lock(&WATCHED) {
            list.retain(|w| w.upgrade().is_some_and(|w| !w.is_closing()));
            watched.clone_from(&list);
        }
        let live: Vec<Arc<Watch>> = watched.iter().filter_map(Weak::upgrade).collect();
        if live.is_empty() {
            // Until `watch` unparks it.
            std::thread::park();
            continue;
        }
        let now = Instant::now();
        let tick = TICKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let unwinding: Vec<PollId> = match try_lock(&UNWINDING) {
            Some(mut marked) => {
                // A mark older than the last tick whose poll is not in
                // progress any more (a panic caught inside the poll) goes.
                marked.retain(|(poll, at)| *at + 1 >= tick || in_progress(&live, *poll));
                marked.iter().map(|(poll, _)| *poll).collect()
            }
            None => Vec::new(),
        };
        for watch in &live {
            look(watch, now, &unwinding);
        }
        let threshold = live.iter().map(|w| w.slow_poll).min();
        drop(live);
        std::thread::park_timeout(period(threshold.unwrap_or(MAX_PERIOD)));
    }
}

/// How long the watchdog sleeps between two looks at runners whose
/// smallest threshold is `threshold`.
fn period(threshold: Duration) -> Duration {
    (threshold / 4).clamp(MIN_PERIOD, MAX_PERIOD)
}

/// Whether `poll` is in progress in one of the `live` runners.
fn in_progress(live: &[Arc<Watch>], poll: PollId) -> bool {
    let mut found = false;
    for watch in live {
        watch.try_each(|task| {
            found |= task.serial == poll.serial
                && task.poll_in_progress().is_some_and(|(p, _)| p == poll);
        });
    }
    found
}

/// Reports each poll of `watch`'s runner that has held its thread longer
/// than the threshold, once per poll, except those that are `unwinding`.
fn look(watch: &Watch, now: Instant, unwinding: &[PollId]) {
    let mut held = Vec::new();
    watch.try_each(|task| {
        let Some((poll, since)) = task.poll_in_progress() else {
            return;
        };
        let so_far = now.saturating_duration_since(since);
        if so_far > watch.slow_poll && !unwinding.contains(&poll) && task.report_live(poll) {
            held.push((task.clone(), so_far));
        }
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
