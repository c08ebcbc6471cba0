//! The task dump: "what is stuck, and where". A snapshot of a runner's live
//! tasks, each with its name, spawn site, parent and poll state, read
//! without waiting on any lock a stuck thread may hold.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::awaits;
use super::registry::Registry;
use super::track::{Role, Tracked};

/// A snapshot of the live tasks of a runner: what [`dump`](crate::task::dump) returns.
///
/// [`Display`](fmt::Display) prints one line per task, each indented under
/// the task that spawned it, the main task first, then notes on what the
/// dump could not see. [`iter`](Self::iter) gives the same entries for
/// tools and tests.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// let mut runner = runner::Runner::builder().debug(true).build();
/// runner.run(async {
///     runner::task::Builder::new()
///         .name("server")
///         .spawn_local(async { tokio::sync::Notify::new().notified().await })
///         .unwrap();
///     tokio::task::yield_now().await;
///     let dump = runner::task::dump();
///     let names: Vec<_> = dump.iter().map(|task| task.name()).collect();
///     assert_eq!(names, ["main", "server"]);
///     println!("{dump}");
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TaskDump {
    /// Main task first, then each task after its parent.
    tasks: Vec<DumpEntry>,
    /// What the dump could not see.
    gaps: Vec<Gap>,
    /// When it was taken.
    taken_at: Instant,
}

/// Why a dump is not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Not taken inside a runner.
    NoRunner,
    /// Debug mode is off: only the main task is known.
    DebugOff,
    /// Debug mode is off and the main task is not known on this thread.
    DebugOffElsewhere,
    /// The task list's lock stayed taken.
    Busy,
    /// The await edges' lock stayed taken: who awaits whom is left out.
    AwaitsBusy,
}

/// One task in a [`TaskDump`].
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), runner::Error> {
/// runner::Runner::builder().debug(true).build().run(async {
///     let dump = runner::task::dump();
///     let main = dump.iter().next().unwrap();
///     assert!(main.is_main());
///     assert_eq!(main.name(), "main");
///     assert!(matches!(main.state(), runner::task::TaskState::Polling { .. }));
///     assert_eq!(main.parent(), None);
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DumpEntry {
    /// Tokio's id, where known.
    id: Option<tokio::task::Id>,
    /// The given name, `"main"`, or `None`.
    name: Option<String>,
    /// Where it was spawned (for the main task: where the run was called).
    spawned_at: &'static Location<'static>,
    /// Index of the parent in the dump.
    parent: Option<usize>,
    /// How deep under the roots.
    depth: usize,
    /// Polling, idle, or not tracked.
    state: TaskState,
    /// Polls begun, in debug mode.
    polls: Option<u64>,
    /// Reported as having lost its waker.
    lost_waker: bool,
    /// The main task of a run.
    main: bool,
    /// Blocking work (`spawn_blocking`).
    blocking: bool,
    /// The tasks whose `JoinHandle` it awaits.
    awaits: Vec<Awaited>,
}

/// A task another one awaits, as its dump entry names it.
#[derive(Debug, Clone)]
struct Awaited {
    /// Its name, or `"unnamed"`.
    name: String,
    /// Tokio's id, where known.
    id: Option<tokio::task::Id>,
    /// Its index in the dump, if the dump lists it.
    index: Option<usize>,
}

/// Whether a task is being polled right now or waits to be woken; for
/// blocking work, whether it runs on the blocking pool or waits for a thread
/// of it.
///
/// The times come from debug mode's clock, which its watchdog thread keeps
/// a few times per slow-poll threshold: `since` can be early, and `elapsed`
/// long, by up to a quarter of the threshold.
///
/// # Examples
///
/// ```
/// use runner::task::TaskState;
///
/// let state = TaskState::Unknown;
/// assert_eq!(state.elapsed(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now (holding its thread), since `since`.
    Polling {
        /// When the poll began.
        since: Instant,
        /// How long the poll had lasted when the dump was taken.
        elapsed: Duration,
    },
    /// Waiting to be woken, since `since` (its last poll, or its spawn if it
    /// was never polled).
    Idle {
        /// When it last stopped being polled.
        since: Instant,
        /// How long it had waited when the dump was taken.
        elapsed: Duration,
    },
    /// Not tracked: debug mode is off.
    Unknown,
    /// Blocking work ([`spawn_blocking`](crate::spawn_blocking)) running on
    /// the blocking pool, since `since`.
    Blocking {
        /// When its closure started.
        since: Instant,
        /// How long it had run when the dump was taken.
        elapsed: Duration,
    },
    /// Blocking work waiting for a thread of the blocking pool (all of them
    /// are busy), since it was spawned.
    Queued {
        /// When it was spawned.
        since: Instant,
        /// How long it had waited when the dump was taken.
        elapsed: Duration,
    },
}

impl TaskState {
    /// How long the task had been polled, or idle, when the dump was taken.
    pub fn elapsed(&self) -> Option<Duration> {
        match self {
            TaskState::Polling { elapsed, .. }
            | TaskState::Idle { elapsed, .. }
            | TaskState::Blocking { elapsed, .. }
            | TaskState::Queued { elapsed, .. } => Some(*elapsed),
            TaskState::Unknown => None,
        }
    }
}

impl TaskDump {
    /// A snapshot of the tasks in `registry`, unless its lock stays taken.
    pub(crate) fn of(registry: &Registry) -> Self {
        match registry.snapshot() {
            Some(tasks) => TaskDump::from_tracked(&tasks),
            None => TaskDump::empty(Gap::Busy),
        }
    }

    pub(crate) fn empty(gap: Gap) -> Self {
        TaskDump {
            tasks: Vec::new(),
            gaps: vec![gap],
            taken_at: Instant::now(),
        }
    }

    pub(crate) fn main_only(site: &'static Location<'static>) -> Self {
        TaskDump {
            tasks: vec![DumpEntry {
                id: None,
                name: Some("main".to_owned()),
                spawned_at: site,
                parent: None,
                depth: 0,
                state: TaskState::Unknown,
                polls: None,
                lost_waker: false,
                main: true,
                blocking: false,
                awaits: Vec::new(),
            }],
            gaps: vec![Gap::DebugOff],
            taken_at: Instant::now(),
        }
    }

    /// Orders `tasks` as a tree: main tasks first, each task after its
    /// parent, siblings in spawn order; a task whose parent is gone (or was
    /// not a runner task) is a root.
    fn from_tracked(tasks: &[Arc<Tracked>]) -> Self {
        let edges = awaits::snapshot(tasks);
        let taken_at = Instant::now();
        let mut by_serial: HashMap<u64, usize> = HashMap::with_capacity(tasks.len());
        for (i, t) in tasks.iter().enumerate() {
            by_serial.insert(t.serial, i);
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
        let mut roots = Vec::new();
        for (i, t) in tasks.iter().enumerate() {
            match by_serial.get(&t.parent) {
                Some(&p) if p != i => children[p].push(i),
                _ => roots.push(i),
            }
        }
        let order = |v: &mut Vec<usize>| v.sort_by_key(|&i| (!tasks[i].is_main(), tasks[i].serial));
        order(&mut roots);
        children.iter_mut().for_each(order);
        let mut out = Vec::with_capacity(tasks.len());
        // Depth-first, with the parent's index in `out`.
        let mut stack: Vec<(usize, Option<usize>, usize)> =
            roots.iter().rev().map(|&i| (i, None, 0)).collect();
        let mut at_of: HashMap<u64, usize> = HashMap::with_capacity(tasks.len());
        while let Some((i, parent, depth)) = stack.pop() {
            let at = out.len();
            at_of.insert(tasks[i].serial, at);
            out.push(DumpEntry::of(&tasks[i], parent, depth, taken_at));
            stack.extend(children[i].iter().rev().map(|&c| (c, Some(at), depth + 1)));
        }
        let mut gaps = Vec::new();
        match edges {
            Some(edges) => {
                for (awaiter, awaited) in edges {
                    let Some(&at) = at_of.get(&awaiter) else {
                        continue;
                    };
                    out[at].awaits = awaited
                        .iter()
                        .map(|t| Awaited {
                            name: t.meta.task_name().name.to_owned(),
                            id: t.seen().id,
                            index: at_of.get(&t.serial).copied(),
                        })
                        .collect();
                }
            }
            None => gaps.push(Gap::AwaitsBusy),
        }
        TaskDump {
            tasks: out,
            gaps,
            taken_at,
        }
    }

    /// The tasks: the main task first, then each task after the task that
    /// spawned it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::Runner::builder().debug(true).build().run(async {
    ///     for task in runner::task::dump().iter() {
    ///         println!("{} spawned at {}", task.name(), task.spawned_at());
    ///     }
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &DumpEntry> {
        self.tasks.iter()
    }

    /// How many tasks the dump lists.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(runner::task::dump().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the dump lists no task (it was taken outside any runner, or
    /// could not look).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(runner::task::dump().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether the dump lists every live task of the runner (debug mode, and
    /// the task list could be read).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::Runner::builder().debug(false).build().run(async {
    ///     assert!(!runner::task::dump().is_complete());
    /// })?;
    /// runner::Runner::builder().debug(true).build().run(async {
    ///     assert!(runner::task::dump().is_complete());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_complete(&self) -> bool {
        self.gaps.is_empty()
    }

    /// When the dump was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let dump = runner::task::dump();
    /// assert!(dump.taken_at() <= std::time::Instant::now());
    /// ```
    pub fn taken_at(&self) -> Instant {
        self.taken_at
    }
}

impl DumpEntry {
    fn of(t: &Tracked, parent: Option<usize>, depth: usize, taken_at: Instant) -> Self {
        let seen = t.seen();
        let elapsed = taken_at.saturating_duration_since(seen.since);
        let since = seen.since;
        let blocking = t.role == Role::Blocking;
        let state = match (blocking, seen.polling) {
            (false, true) => TaskState::Polling { since, elapsed },
            (false, false) => TaskState::Idle { since, elapsed },
            (true, true) => TaskState::Blocking { since, elapsed },
            (true, false) => TaskState::Queued { since, elapsed },
        };
        DumpEntry {
            id: seen.id,
            name: t.meta.name().map(str::to_owned),
            spawned_at: t.meta.site(),
            parent,
            depth,
            state,
            polls: (!blocking).then_some(seen.polls),
            lost_waker: seen.lost,
            main: t.is_main(),
            blocking,
            awaits: Vec::new(),
        }
    }

    /// Tokio's id of the task, once it was polled (the main task, which is
    /// not a Tokio task, has none).
    pub fn id(&self) -> Option<tokio::task::Id> {
        self.id
    }

    /// The task's name: the one given through
    /// [`Builder::name`](crate::task::Builder::name), `"main"` for the main
    /// task, `"unnamed"` otherwise.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("unnamed")
    }

    /// Where the task was spawned; for the main task, where the run was
    /// called (for `#[runner::test]`, the test).
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// The index, in the dump, of the task that spawned this one; `None`
    /// for the main task and for tasks whose spawner has finished or was not
    /// a runner task.
    pub fn parent(&self) -> Option<usize> {
        self.parent
    }

    /// How many ancestors of the task the dump lists.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether the task is being polled or idle, and for how long.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How many polls of the task began (debug mode only).
    pub fn polls(&self) -> Option<u64> {
        self.polls
    }

    /// Whether debug mode found that the task lost its waker: nothing can
    /// wake it any more, so it will never run again.
    pub fn lost_waker(&self) -> bool {
        self.lost_waker
    }

    /// Whether this is the main task of a run.
    pub fn is_main(&self) -> bool {
        self.main
    }

    /// Whether this is blocking work, a closure given to
    /// [`spawn_blocking`](crate::spawn_blocking) (debug mode only): its
    /// [`state`](Self::state) is [`TaskState::Blocking`] or
    /// [`TaskState::Queued`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::Runner::builder().debug(true).build().run(async {
    ///     let (started, on_pool) = std::sync::mpsc::channel();
    ///     let (release, released) = std::sync::mpsc::channel::<()>();
    ///     let copy = runner::task::Builder::new().name("copy").spawn_blocking(move || {
    ///         started.send(()).unwrap();
    ///         released.recv().unwrap();
    ///     });
    ///     on_pool.recv().unwrap();
    ///     let dump = runner::task::dump();
    ///     let entry = dump.iter().find(|t| t.name() == "copy").unwrap();
    ///     assert!(entry.is_blocking());
    ///     assert!(matches!(entry.state(), runner::task::TaskState::Blocking { .. }));
    ///     release.send(()).unwrap();
    ///     copy.unwrap().await.unwrap();
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }

    /// The indices, in the dump, of the tasks whose
    /// [`JoinHandle`](crate::JoinHandle) this task awaits (debug mode only):
    /// asyncio's await graph. A cycle of them is a deadlock, which debug
    /// mode reports at WARN when it forms.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), runner::Error> {
    /// runner::Runner::builder().debug(true).build().run(async {
    ///     let worker = runner::task::Builder::new().name("worker").spawn(async {
    ///         // Meanwhile the main task awaits this one.
    ///         tokio::task::yield_now().await;
    ///         runner::task::dump()
    ///     });
    ///     let dump = worker.unwrap().await.unwrap();
    ///     let main = dump.iter().next().unwrap();
    ///     let awaited: Vec<_> = main.awaiting().map(|i| dump.iter().nth(i).unwrap().name()).collect();
    ///     assert_eq!(awaited, ["worker"]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn awaiting(&self) -> impl Iterator<Item = usize> + '_ {
        self.awaits.iter().filter_map(|a| a.index)
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.tasks.len();
        let s = if n == 1 { "" } else { "s" };
        writeln!(f, "runner task dump: {n} live task{s}")?;
        for task in &self.tasks {
            writeln!(f, "{:indent$}{task}", "", indent = 2 + 2 * task.depth)?;
        }
        for gap in &self.gaps {
            let note = match gap {
                Gap::NoRunner => "not taken inside a runner: no task to list",
                Gap::DebugOff => {
                    "debug mode is off, so only the main task is known; run with \
                     RUNNER_DEBUG=1 (or Builder::debug(true)) to list every task and its state"
                }
                Gap::DebugOffElsewhere => {
                    "debug mode is off, so no task is tracked here; run with \
                     RUNNER_DEBUG=1 (or Builder::debug(true)) to list every task and its state"
                }
                Gap::Busy => {
                    "could not look: the task list's lock stayed taken (a thread may be \
                     stuck while spawning or dropping a task)"
                }
                Gap::AwaitsBusy => {
                    "who awaits whom is left out: the await edges' lock stayed taken"
                }
            };
            writeln!(f, "  ({note})")?;
        }
        Ok(())
    }
}

impl fmt::Display for DumpEntry {
    /// `` `name` (id 12) spawned at file:line:col: idle for 1.2 s, 3 polls, awaiting `other` (id 13) ``
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.name())?;
        if let Some(id) = self.id {
            write!(f, " (id {id})")?;
        }
        let verb = if self.main { "run" } else { "spawned" };
        write!(f, " {verb} at {}", self.spawned_at)?;
        match self.state {
            TaskState::Polling { elapsed, .. } => {
                write!(f, ": being polled for {}", Secs(elapsed))?
            }
            TaskState::Idle { elapsed, .. } => write!(f, ": idle for {}", Secs(elapsed))?,
            TaskState::Blocking { elapsed, .. } => {
                write!(f, ": running on the blocking pool for {}", Secs(elapsed))?
            }
            TaskState::Queued { elapsed, .. } => {
                write!(f, ": queued for the blocking pool for {}", Secs(elapsed))?
            }
            TaskState::Unknown => {}
        }
        match self.polls {
            Some(0) => write!(f, ", never polled")?,
            Some(1) => write!(f, ", 1 poll")?,
            Some(n) => write!(f, ", {n} polls")?,
            None => {}
        }
        if self.lost_waker {
            write!(f, ", LOST WAKER: nothing can wake it")?;
        }
        for (i, awaited) in self.awaits.iter().enumerate() {
            let lead = if i == 0 { ", awaiting" } else { "," };
            write!(f, "{lead} `{}`", awaited.name)?;
            if let Some(id) = awaited.id {
                write!(f, " (id {id})")?;
            }
        }
        Ok(())
    }
}

/// What SIGQUIT writes to stderr for a runner run at `at` (debug mode).
pub(crate) fn on_quit(dump: &TaskDump, at: &Location<'_>) -> String {
    format!("runner: SIGQUIT: the tasks of the runner run at {at} (the program goes on):\n{dump}\n")
}

/// A duration as seconds with millisecond precision.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.0.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_outside_a_runner_is_empty_and_says_why() {
        let dump = crate::task::dump();
        assert!(dump.is_empty());
        assert!(!dump.is_complete());
        assert!(dump.to_string().contains("not taken inside a runner"));
    }

    #[test]
    fn durations_print_in_seconds_to_the_millisecond() {
        assert_eq!(
            Secs(Duration::from_micros(1_234_567)).to_string(),
            "1.235 s"
        );
    }
}
