//! Cancellation requests: asyncio's `Task.cancel()`, made cooperative.
//!
//! Rust cancels a task by dropping it; asyncio raises `CancelledError` at
//! its await point, so that its cleanup can still `await`. runner adds the
//! request in between. A task that has asked about its cancellation
//! (`task::cancelled()`, `task::is_cancelled()`, or awaiting a
//! `TaskGroup::join`) is *cooperative*: it gets a [`CancelState`], and a
//! request cancels the state's token, wakes the task and leaves it running
//! for its grace, after which it is dropped. A request to any other task
//! drops it at once, as Tokio's `abort` does. Tasks that never ask pay
//! nothing: the state is made at the first question, and only cooperative
//! tasks are in the table below.
//!
//! The table maps Tokio task ids to the states of the cooperative tasks
//! alive (sharded; a task's first question and its end each lock one shard),
//! so that `JoinHandle::cancel` finds a task's state and `close` finds every
//! cooperative task of its runner.
//!
//! For `close`, [`Parked`] keeps the waker of every runner task that waits
//! (registered at its first `Pending`, so a task that completes in one poll
//! never touches it): `close` wakes them all, and each one that is not
//! cooperative drops its future when polled (see the task wrapper).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{AbortHandle, Id};
use tokio_util::sync::CancellationToken;

use crate::sync::lock;

/// What a cooperative task and those who may cancel it share.
#[derive(Debug)]
pub(crate) struct CancelState {
    /// Cancelled by the request: what `cancelled()` awaits.
    token: CancellationToken,
    /// The task's own waker (given by its wrapper), to wake it at a request
    /// whatever it awaits.
    task_waker: OnceLock<Waker>,
    /// How the task is dropped once its grace expires, given by a requester
    /// that has the task's handle (`JoinHandle::cancel`, a `TaskGroup`).
    /// `close` gives none: it drops what is left itself.
    abort: Mutex<Option<AbortHandle>>,
    /// How long the task may run after a request.
    pub(crate) grace: Duration,
    /// The listening tasks of the runner the task belongs to, for `close`.
    listeners: Option<Arc<Listeners>>,
    /// Tokio's id of the task; `None` for a run's main task.
    id: Option<Id>,
    /// Whether `close` asked this task (and waits for it to end).
    asked_by_close: AtomicBool,
}

impl CancelState {
    /// The state of a task that just became cooperative, of the runner
    /// whose listening tasks `listeners` counts; a spawned task (`id` given)
    /// enters the table and counts among them.
    pub(crate) fn new(
        id: Option<Id>,
        listeners: Option<Arc<Listeners>>,
        grace: Duration,
    ) -> Arc<Self> {
        let state = Arc::new(CancelState {
            token: CancellationToken::new(),
            task_waker: OnceLock::new(),
            abort: Mutex::new(None),
            grace,
            listeners: listeners.filter(|_| id.is_some()),
            id,
            asked_by_close: AtomicBool::new(false),
        });
        if let Some(id) = id {
            table(id).insert(id, state.clone());
            if let Some(listeners) = &state.listeners {
                listeners.listening.fetch_add(1, Ordering::AcqRel);
            }
        }
        state
    }

    /// Whether cancellation was requested.
    pub(crate) fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token a request cancels.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Keeps the task's waker, the first time it is given.
    pub(crate) fn set_task_waker(&self, waker: &Waker) {
        if self.task_waker.get().is_none() {
            let _ = self.task_waker.set(waker.clone());
        }
    }

    /// Requests cancellation: cancels the token (completing every
    /// `cancelled()`) and wakes the task. `abort`, when given, is how the
    /// task is dropped if its grace expires.
    pub(crate) fn request(&self, abort: Option<AbortHandle>) {
        if self.grace.is_zero() {
            // No grace: dropped at once, as a task that does not listen.
            if let Some(abort) = abort {
                return abort.abort();
            }
        }
        if let Some(abort) = abort {
            let mut slot = lock(&self.abort);
            if slot.is_none() {
                *slot = Some(abort);
            }
        }
        self.token.cancel();
        if let Some(waker) = self.task_waker.get() {
            waker.wake_by_ref();
        }
    }

    /// `close` asks this task, and waits for it to end.
    fn ask_for_close(&self, listeners: &Listeners) {
        if !self.asked_by_close.swap(true, Ordering::AcqRel) {
            listeners.asked.fetch_add(1, Ordering::AcqRel);
        }
        self.request(None);
    }

    /// The handle that drops the task, if a requester gave one.
    pub(crate) fn take_abort(&self) -> Option<AbortHandle> {
        lock(&self.abort).take()
    }

    /// The task ended: it leaves the table, and `close` stops waiting for it.
    pub(crate) fn ended(&self) {
        if let Some(id) = self.id {
            let removed = table(id).remove(&id);
            drop(removed);
        }
        let Some(listeners) = &self.listeners else {
            return;
        };
        listeners.listening.fetch_sub(1, Ordering::AcqRel);
        if self.asked_by_close.load(Ordering::Acquire)
            && listeners.asked.fetch_sub(1, Ordering::AcqRel) == 1
        {
            listeners.all_ended.notify_waiters();
        }
    }
}

/// How many shards the table has.
const SHARDS: usize = 16;

type Shard = Mutex<Option<HashMap<Id, Arc<CancelState>>>>;

static TABLE: [Shard; SHARDS] = [const { Mutex::new(None) }; SHARDS];

/// The shard of `id`, locked.
fn table(id: Id) -> TableShard {
    static HASH: OnceLock<RandomState> = OnceLock::new();
    let hash = HASH.get_or_init(RandomState::new).hash_one(id);
    TableShard(lock(&TABLE[(hash % SHARDS as u64) as usize]))
}

/// One shard of the table, locked.
struct TableShard(std::sync::MutexGuard<'static, Option<HashMap<Id, Arc<CancelState>>>>);

impl TableShard {
    fn insert(&mut self, id: Id, state: Arc<CancelState>) {
        self.0.get_or_insert_with(HashMap::new).insert(id, state);
    }

    fn remove(&mut self, id: &Id) -> Option<Arc<CancelState>> {
        let tasks = self.0.as_mut()?;
        let removed = tasks.remove(id);
        if tasks.is_empty() {
            // Nothing kept once no task listens.
            *self.0 = None;
        }
        removed
    }

    fn get(&self, id: &Id) -> Option<Arc<CancelState>> {
        self.0.as_ref()?.get(id).cloned()
    }
}

/// The state of task `id`, if it is cooperative.
pub(crate) fn cooperative(id: Id) -> Option<Arc<CancelState>> {
    table(id).get(&id)
}

/// Requests cancellation of the task `id`, which `abort` drops: a
/// cooperative task is asked, any other is dropped at once.
pub(crate) fn request(id: Id, abort: AbortHandle) {
    match cooperative(id) {
        Some(state) => state.request(Some(abort)),
        None => abort.abort(),
    }
}

/// The tasks of a runner that wait, for `close`: their wakers, and the
/// runner's listening tasks (made with the first of them).
#[derive(Debug, Default)]
pub(crate) struct Parked {
    /// The wakers of waiting tasks, by slot.
    slots: Mutex<Slots>,
    /// Set when `close` wakes them: a task that parks later wakes itself.
    closing: AtomicBool,
    /// The runner's tasks that listen for cancellation.
    listeners: OnceLock<Arc<Listeners>>,
}

/// A runner's tasks that listen for cancellation, as `close` counts them.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// How many listen.
    listening: AtomicUsize,
    /// How many `close` asked that have not ended.
    asked: AtomicUsize,
    /// Notified when `asked` falls to zero.
    all_ended: Notify,
}

#[derive(Debug, Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Parked {
    /// Keeps `waker` (a task's, at its first `Pending`) until `leave`.
    pub(crate) fn park(&self, waker: &Waker) -> usize {
        let key = {
            let mut slots = lock(&self.slots);
            match slots.free.pop() {
                Some(key) => {
                    slots.wakers[key] = Some(waker.clone());
                    key
                }
                None => {
                    slots.wakers.push(Some(waker.clone()));
                    slots.wakers.len() - 1
                }
            }
        };
        // Parked after `close` woke the others: wake now, so as not to be
        // missed.
        if self.closing.load(Ordering::Acquire) {
            waker.wake_by_ref();
        }
        key
    }

    /// The task of slot `key` ended.
    pub(crate) fn leave(&self, key: usize) {
        let waker = {
            let mut slots = lock(&self.slots);
            slots.free.push(key);
            slots.wakers[key].take()
        };
        drop(waker);
    }

    /// Whether `close` has begun: tasks alive then are cancelled.
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// `close` begins: every task alive is cancelled. Each cooperative task
    /// is asked, and every waiting task is woken (one that does not listen
    /// drops its future when polled). Returns whether any task was asked,
    /// that is, whether `close` must drive the loop for them: when none
    /// listens, close drops them all at once, as it always did.
    pub(crate) fn close(&self) -> bool {
        self.closing.store(true, Ordering::SeqCst);
        let Some(listeners) = self.listeners.get() else {
            return false;
        };
        if listeners.listening.load(Ordering::SeqCst) == 0 {
            return false;
        }
        for state in listeners.states() {
            state.ask_for_close(listeners);
        }
        let wakers: Vec<Waker> = lock(&self.slots).wakers.iter().flatten().cloned().collect();
        for waker in wakers {
            waker.wake();
        }
        true
    }

    /// The runner's listening tasks, counted from the first.
    pub(crate) fn listeners(&self) -> Arc<Listeners> {
        self.listeners.get_or_init(Arc::default).clone()
    }

    /// A cooperative task alive when `close` began is polled for the first
    /// time since: `close` asks it too.
    pub(crate) fn ask(&self, state: &CancelState) {
        if let Some(listeners) = self.listeners.get() {
            state.ask_for_close(listeners);
        }
    }

    /// Completes once every cooperative task `close` asked has ended.
    pub(crate) async fn all_asked_ended(&self) {
        let Some(listeners) = self.listeners.get() else {
            return;
        };
        loop {
            let ended = listeners.all_ended.notified();
            let mut ended = std::pin::pin!(ended);
            ended.as_mut().enable();
            if listeners.asked.load(Ordering::Acquire) == 0 {
                return;
            }
            ended.await;
        }
    }
}

impl Listeners {
    /// Every task that listens, of the runner these are the listeners of.
    fn states(self: &Arc<Self>) -> Vec<Arc<CancelState>> {
        let mut states = Vec::new();
        for shard in &TABLE {
            if let Some(tasks) = lock(shard).as_ref() {
                let ours = tasks
                    .values()
                    .filter(|s| s.listeners.as_ref().is_some_and(|l| Arc::ptr_eq(l, self)));
                states.extend(ours.cloned());
            }
        }
        states
    }
}
