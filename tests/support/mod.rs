//! A `tracing` layer that keeps every event, so tests can read the reports
//! debug mode (and the lost-panic report) emit.
#![allow(dead_code)] // each test binary uses part of it

pub mod flavors;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One captured event.
#[derive(Debug, Clone)]
pub struct Report {
    pub level: Level,
    pub target: String,
    /// The formatted `message` field.
    pub message: String,
    /// Every other field, as text (strings unquoted).
    pub fields: BTreeMap<&'static str, String>,
}

impl Report {
    /// A field's value; panics with the whole report when it is missing.
    pub fn field(&self, name: &str) -> &str {
        match self.fields.get(name) {
            Some(value) => value,
            None => panic!("no field `{name}` in {self:#?}"),
        }
    }

    /// Whether the report points at `file:line` (any column).
    pub fn points_at(&self, file: &str, line: u32) -> bool {
        self.fields
            .get("spawned_at")
            .or_else(|| self.fields.get("called_at"))
            .is_some_and(|at| at.starts_with(&format!("{file}:{line}:")))
    }
}

/// Collects events; clones share the same list.
#[derive(Clone, Default)]
pub struct Capture {
    events: Arc<(Mutex<Vec<Report>>, Condvar)>,
}

impl Capture {
    pub fn new() -> Self {
        Capture::default()
    }

    /// A subscriber that records into this capture.
    pub fn subscriber(&self) -> impl Subscriber + Send + Sync + 'static {
        tracing_subscriber::registry().with(self.clone())
    }

    /// Runs `f` with this capture as the thread's default subscriber.
    pub fn during<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.subscriber(), f)
    }

    /// The events under the `runner` target so far.
    pub fn reports(&self) -> Vec<Report> {
        self.lock()
            .iter()
            .filter(|r| r.target == "runner")
            .cloned()
            .collect()
    }

    /// The `runner` events whose message contains `needle`.
    pub fn reports_containing(&self, needle: &str) -> Vec<Report> {
        self.reports()
            .into_iter()
            .filter(|r| r.message.contains(needle))
            .collect()
    }

    /// Waits up to `timeout` for a `runner` event whose message contains
    /// `needle` (for events emitted on other threads).
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<Report> {
        let (events, arrived) = &*self.events;
        let guard = events.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = arrived
            .wait_timeout_while(guard, timeout, |events| {
                !events
                    .iter()
                    .any(|r| r.target == "runner" && r.message.contains(needle))
            })
            .unwrap_or_else(PoisonError::into_inner);
        guard
            .iter()
            .find(|r| r.target == "runner" && r.message.contains(needle))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Report>> {
        self.events.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let report = Report {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: fields.message,
            fields: fields.others,
        };
        self.lock().push(report);
        self.events.1.notify_all();
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    others: BTreeMap<&'static str, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.others.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.others.insert(field.name(), format!("{value:?}"));
        }
    }
}

/// Sets a flag when dropped: proves a future or task was dropped.
pub struct DropFlag(pub Arc<std::sync::atomic::AtomicBool>);

impl DropFlag {
    pub fn new() -> (DropFlag, Arc<std::sync::atomic::AtomicBool>) {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
