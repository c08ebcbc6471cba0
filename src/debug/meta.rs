//! Debug mode's record of each task: its name and spawn site, and whether
//! its abort was asked for. Shared by the task, its `JoinHandle` and the
//! registry (`registry.rs`). Outside debug mode no record is made: a task
//! carries its spawn site itself.
#![forbid(unsafe_code)]

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

use super::report::TaskName;

/// A task as debug mode records it; shared by the task, its `JoinHandle`
/// and the registry.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// The name given through `task::Builder::name`, if any.
    name: Option<Box<str>>,
    /// Where the task was spawned.
    site: &'static Location<'static>,
    /// `JoinHandle::abort` was called: the task is on its way out, so close
    /// does not report it as left pending even if Tokio has not dropped it
    /// yet.
    aborted: AtomicBool,
}

impl TaskMeta {
    /// A task spawned at `site`.
    pub(crate) fn new(name: Option<&str>, site: &'static Location<'static>) -> Self {
        TaskMeta {
            name: name.map(Into::into),
            site,
            aborted: AtomicBool::new(false),
        }
    }

    /// The task as reports name it.
    pub(crate) fn task_name(&self) -> TaskName<'_> {
        TaskName {
            name: self.name.as_deref().unwrap_or("unnamed"),
            site: self.site,
        }
    }

    /// The name given at spawn, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned.
    pub(crate) fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// `JoinHandle::abort` was called.
    pub(crate) fn mark_aborted(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// Whether the task's `JoinHandle::abort` was called.
    pub(crate) fn abort_requested(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }
}
