//! Debug mode's reports: the events asyncio's debug mode gives, as `tracing`
//! events under the `runner` target.
//!
//! - a poll that holds the thread longer than the slow-poll threshold, while
//!   it holds it (the watchdog) and after it returned;
//! - a task panic nobody retrieved (always on, debug mode or not);
//! - tasks still pending when the runner closes;
//! - a task that lost its waker and can never run again;
//! - misuse, explained.
//!
//! This module only formats and emits: it knows tasks by name and spawn site,
//! not by type, so every other module may report through it. Outside debug
//! mode the poll path reads no clock: the switch is an `Option` checked once
//! per poll.
#![forbid(unsafe_code)]

use std::panic::Location;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing::Dispatch;

use crate::sync::{lock, try_lock};

/// How many leftover tasks close names one by one before it only counts.
const LEFTOVERS_LISTED: usize = 20;

/// Whether `RUNNER_DEBUG` asks for debug mode. Read once per process, when
/// the first runner is built (reading the environment is most of what
/// building a runner costs), as Python reads its environment once at
/// start-up.
pub(crate) fn env_debug() -> bool {
    static ENV_DEBUG: OnceLock<bool> = OnceLock::new();
    *ENV_DEBUG.get_or_init(|| env_flag("RUNNER_DEBUG"))
}

/// Whether the environment variable `name` is set and turns its switch on
/// (see [`switch_is_on`]).
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| switch_is_on(&v.to_string_lossy()))
}

/// The rule of the environment switches (`RUNNER_DEBUG`,
/// `RUNNER_LOST_WAKER_PANICS`): a set variable is on unless its value,
/// with surrounding whitespace trimmed and in any case, is empty, `0`,
/// `false`, `off` or `no`.
fn switch_is_on(value: &str) -> bool {
    const OFF: [&str; 5] = ["", "0", "false", "off", "no"];
    let value = value.trim();
    !OFF.iter().any(|off| value.eq_ignore_ascii_case(off))
}

/// Where a runner's debug reports go: the subscriber that was current on
/// the thread that called `run`, so that reports made on other threads
/// (runtime workers, the blocking pool, the watchdog) reach it too.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sink(Arc<Mutex<Option<Dispatch>>>);

impl Sink {
    /// Takes the calling thread's subscriber: a run begins.
    pub(crate) fn capture(&self) {
        let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
        let old = lock(&self.0).replace(dispatch);
        drop(old);
    }

    /// The subscriber reports go to, if a run captured one (`None` too when
    /// another thread holds the lock: the report then goes to this
    /// thread's own subscriber rather than wait).
    pub(crate) fn dispatch(&self) -> Option<Dispatch> {
        try_lock(&self.0)?.clone()
    }

    /// Emits `report` through the captured subscriber.
    pub(crate) fn emit(&self, report: impl FnOnce()) {
        match self.dispatch() {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, report),
            None => report(),
        }
    }
}

/// A task as reports name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskName<'a> {
    /// The name given at spawn, or `"unnamed"`.
    pub(crate) name: &'a str,
    /// Where the task was spawned.
    pub(crate) site: &'static Location<'static>,
}

#[cold]
pub(crate) fn slow_poll_report(task: TaskName<'_>, took: Duration, threshold: Duration) {
    let (took_ms, threshold_ms) = (millis(took), millis(threshold));
    let TaskName { name, site } = task;
    tracing::warn!(
        target: "runner",
        task = name,
        spawned_at = %site,
        took_ms,
        threshold_ms,
        "slow poll: task `{name}` spawned at {site} held the thread for {took_ms} ms \
         (threshold {threshold_ms} ms); move blocking work to `runner::spawn_blocking`",
    );
}

/// The watchdog saw a poll that has held its thread longer than the
/// threshold and has not returned yet.
#[cold]
pub(crate) fn still_polling(task: TaskName<'_>, held: Duration, threshold: Duration) {
    let (held_ms, threshold_ms) = (millis(held), millis(threshold));
    let TaskName { name, site } = task;
    tracing::warn!(
        target: "runner",
        task = name,
        spawned_at = %site,
        held_ms,
        threshold_ms,
        "task `{name}` spawned at {site} still holds its thread: its poll began \
         {held_ms} ms ago and has not returned (threshold {threshold_ms} ms); a blocking \
         call in async code? move blocking work to `runner::spawn_blocking`",
    );
}

/// Tasks await each other's `JoinHandle`s in a cycle: none can finish.
#[cold]
pub(crate) fn await_cycle(cycle: &[TaskName<'_>]) {
    let Some(first) = cycle.first() else { return };
    let mut chain = String::new();
    for (i, TaskName { name, site }) in cycle.iter().enumerate() {
        let link = match i {
            0 => "",
            1 => " awaits ",
            _ => ", which awaits ",
        };
        chain.push_str(&format!("{link}`{name}` spawned at {site}"));
    }
    let tasks: Vec<&str> = cycle.iter().map(|t| t.name).collect();
    let tasks = tasks.join(", ");
    tracing::warn!(
        target: "runner",
        tasks,
        cycle = %chain,
        "deadlock: {chain}, which awaits `{}`: each awaits the next one's JoinHandle, \
         so none of them can ever finish",
        first.name,
    );
}

/// Milliseconds rounded to a tenth, so fields print short (`150.2`).
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The message of a panic payload, as the default hook prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

/// A task panicked and its `JoinHandle` was dropped without reading it.
#[cold]
pub(crate) fn lost_panic(task: TaskName<'_>, message: &str) {
    let TaskName { name, site } = task;
    tracing::error!(
        target: "runner",
        task = name,
        spawned_at = %site,
        panic = message,
        "task `{name}` spawned at {site} panicked and nobody retrieved the panic \
         (its JoinHandle was dropped without being awaited): {message}",
    );
}

/// A task's poll returned `Pending`, nothing woke it, and no clone of its
/// waker is left: it can never run again.
#[cold]
pub(crate) fn lost_waker(task: TaskName<'_>) {
    let TaskName { name, site } = task;
    tracing::warn!(
        target: "runner",
        task = name,
        spawned_at = %site,
        "lost waker: task `{name}` spawned at {site} returned Pending, was not woken, and \
         no clone of its waker is left, so it can never run again: it stays pending until \
         it is dropped (aborted, or cancelled when the runner closes; for the main task, \
         the run hangs unless the runner uses LostPanic::CancelMain, which ends it with \
         Error::LostWaker); the future it awaits must keep `cx.waker()` and wake it when \
         ready (`std::future::pending()` never does: await a channel or a signal instead)",
    );
}

/// A task asked to cancel listened, but was still running when its grace
/// ended: it is dropped now.
#[cold]
pub(crate) fn grace_expired(task: TaskName<'_>, grace: Duration) {
    let TaskName { name, site } = task;
    let grace_s = grace.as_secs_f64();
    tracing::warn!(
        target: "runner",
        task = name,
        spawned_at = %site,
        grace_s,
        "task `{name}` spawned at {site} did not finish within the cancel grace of \
         {grace:?} after it was asked to cancel; it is dropped now",
    );
}

/// Warns about the tasks still pending when the runner closes (about to be
/// cancelled), sorted by spawn site, naming at most [`LEFTOVERS_LISTED`].
#[cold]
pub(crate) fn leftovers(pending: &[TaskName<'_>]) {
    for &TaskName { name, site } in pending.iter().take(LEFTOVERS_LISTED) {
        tracing::warn!(
            target: "runner",
            task = name,
            spawned_at = %site,
            "task `{name}` spawned at {site} was still pending when the runner closed; \
             it is cancelled now (await or abort it before the run ends)",
        );
    }
    if pending.len() > LEFTOVERS_LISTED {
        tracing::warn!(
            target: "runner",
            pending = pending.len(),
            "{} more tasks were still pending when the runner closed",
            pending.len() - LEFTOVERS_LISTED,
        );
    }
}

/// Explains a refused run in debug mode.
#[cold]
pub(crate) fn misuse(what: &str, location: &Location<'_>) {
    tracing::warn!(
        target: "runner",
        called_at = %location,
        "{what} (called at {location})",
    );
}

/// `close` ran where it could not wait: the runtime is left to shut down in
/// the background. `at` is the `close` call or, when the runner's `Drop`
/// closed it (`dropped`: no caller location there), where it was created.
#[cold]
pub(crate) fn closed_in_background(at: &Location<'_>, dropped: bool, why: &str, fate: &str) {
    if dropped {
        tracing::warn!(
            target: "runner",
            created_at = %at,
            "Runner dropped {why} without `close` (created at {at}; where it was dropped \
             is unknown): {fate}; close runners outside async code and before thread exit",
        );
    } else {
        tracing::warn!(
            target: "runner",
            called_at = %at,
            "Runner closed {why} (close called at {at}): {fate}; close runners outside \
             async code and before thread exit",
        );
    }
}

/// `close` gave up on blocking work that outlived the shutdown timeout.
#[cold]
pub(crate) fn blocking_left_behind(still_running: usize, timeout: Duration) {
    tracing::warn!(
        target: "runner",
        still_running,
        timeout_s = timeout.as_secs_f64(),
        "Runner::close: {still_running} blocking task(s) started with \
         runner::spawn_blocking still running after the shutdown timeout of {timeout:?}; \
         they are left behind",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_is_off_when_empty_zero_false_off_or_no_in_any_case_and_spacing() {
        for off in [
            "", " ", "0", " 0\n", "false", "FALSE", "off", "Off", "no", " NO ",
        ] {
            assert!(!switch_is_on(off), "{off:?}");
        }
        for on in ["1", "true", "yes", "on", "2", "debug", "nope", "0x0"] {
            assert!(switch_is_on(on), "{on:?}");
        }
    }

    #[test]
    fn panic_messages_of_both_string_kinds() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(panic_message(&*s), "static");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(&*s), "owned");
        let s: Box<dyn std::any::Any + Send> = Box::new(5u8);
        assert_eq!(panic_message(&*s), "Box<dyn Any>");
    }
}
