//! What a runner shares with its tasks: made when the runner is built,
//! reached by every task it spawns (directly or not) through the thread's
//! current runner, and outliving the loop, so that `close` and the
//! attributes can read what was counted.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::cancel::{CancelState, Parked};
use crate::sync::lock;

use crate::debug::dump::{Gap, TaskDump};
use crate::debug::lost::LostPanics;
use crate::debug::registry::Registry;

/// A runner's state as its tasks see it.
#[derive(Debug)]
pub(crate) struct LoopShared {
    /// Debug-mode state; `None` when debug mode is off (the one place that
    /// says whether it is on).
    pub(crate) debug: Option<DebugState>,
    /// Task panics nobody retrieved.
    pub(crate) lost_panics: Arc<LostPanics>,
    /// Blocking closures started through `runner::spawn_blocking` and not
    /// finished yet: Tokio's `shutdown_timeout` does not say whether it
    /// expired, so `close` asks this. Made by the first such closure.
    blocking: OnceLock<TaskTracker>,
    /// How long a cooperative task may run after a cancellation request.
    pub(crate) cancel_grace: Duration,
    /// The tasks that wait, for `close` to wake them.
    pub(crate) parked: Parked,
    /// The cancellation state of the running main task, once it listens.
    main_cancel: Mutex<Option<Arc<CancelState>>>,
    /// Whether `main_cancel` holds one: what a run checks at its end.
    main_listens: AtomicBool,
    /// Spawned tasks run in the `tracing` span current at spawn
    /// (`Builder::inherit_span`).
    pub(crate) inherit_span: bool,
}

/// Debug-mode settings and what debug mode records.
#[derive(Debug)]
pub(crate) struct DebugState {
    /// Polls longer than this are reported.
    pub(crate) slow_poll: Duration,
    /// The runner's live tasks, for the report at close.
    pub(crate) registry: Registry,
}

impl LoopShared {
    /// A runner's shared state; debug mode on when `slow_poll` is given;
    /// `cancel_main`: the first lost panic (and, in debug mode, a lost waker
    /// of the main task) stops the main task (`LostPanic::CancelMain`).
    pub(crate) fn new(
        slow_poll: Option<Duration>,
        cancel_main: bool,
        cancel_grace: Duration,
    ) -> Self {
        LoopShared {
            debug: slow_poll.map(|slow_poll| DebugState {
                slow_poll,
                registry: Registry::new(slow_poll, crate::debug::track::env_lost_waker_panics()),
            }),
            lost_panics: Arc::new(LostPanics::new(cancel_main)),
            blocking: OnceLock::new(),
            cancel_grace,
            parked: Parked::default(),
            main_cancel: Mutex::new(None),
            main_listens: AtomicBool::new(false),
            inherit_span: true,
        }
    }

    /// Whether spawned tasks run in the `tracing` span current at spawn.
    pub(crate) fn inherit_span(self, on: bool) -> Self {
        LoopShared {
            inherit_span: on,
            ..self
        }
    }

    /// The cancellation state of the running main task, made now if it
    /// had none: the main task listens from now on.
    pub(crate) fn main_cancel_state(self: &Arc<Self>) -> Arc<CancelState> {
        self.main_listens.store(true, Ordering::Release);
        lock(&self.main_cancel)
            .get_or_insert_with(|| CancelState::new(None, None, self.cancel_grace))
            .clone()
    }

    /// A run ends: its main task's state goes (the next run's main task
    /// starts without listening).
    pub(crate) fn forget_main_cancel_state(&self) {
        if self.main_listens.swap(false, Ordering::AcqRel) {
            let state = lock(&self.main_cancel).take();
            drop(state);
        }
    }

    /// The main task's cancellation state, if it listens.
    pub(crate) fn main_cancel(&self) -> Option<Arc<CancelState>> {
        lock(&self.main_cancel).clone()
    }

    /// Counts a blocking closure until the token drops.
    pub(crate) fn blocking_token(&self) -> TaskTrackerToken {
        self.blocking.get_or_init(TaskTracker::new).token()
    }

    /// How many blocking closures started through `runner::spawn_blocking`
    /// are still running.
    pub(crate) fn blocking_running(&self) -> usize {
        self.blocking.get().map_or(0, TaskTracker::len)
    }

    /// The slow-poll threshold, in debug mode.
    pub(crate) fn slow_poll(&self) -> Option<Duration> {
        self.debug.as_ref().map(|d| d.slow_poll)
    }
}

/// A runner's identity: the address of its shared state, unique while the
/// runner lives; 0 is no runner's.
pub(crate) fn id(runner: &Arc<LoopShared>) -> usize {
    Arc::as_ptr(runner) as usize
}

/// A runner's task list, readable from any thread: what the test watchdog
/// and the Ctrl-C watcher thread dump.
#[derive(Debug, Clone)]
pub(crate) struct DumpSource(Arc<LoopShared>);

impl DumpSource {
    /// The tasks of the runner whose shared state is `shared`.
    pub(crate) fn new(shared: Arc<LoopShared>) -> Self {
        DumpSource(shared)
    }

    /// A snapshot of the runner's tasks (outside debug mode, none are
    /// known from another thread).
    pub(crate) fn dump(&self) -> TaskDump {
        let Some(debug) = &self.0.debug else {
            return TaskDump::empty(Gap::DebugOffElsewhere);
        };
        TaskDump::of(&debug.registry)
    }
}
