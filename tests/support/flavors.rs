//! What the cancellation tests share: both runtime flavours, and a log of
//! what tasks did.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner::{Builder, Runner};

/// Longer than any test may take: a wait this long means a bug.
pub const LONG: Duration = Duration::from_secs(60);

/// The runtime a runner is built on.
#[derive(Debug, Clone, Copy)]
pub enum Flavor {
    CurrentThread,
    MultiThread,
}

pub const FLAVORS: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

impl Flavor {
    /// `builder`'s runner on this flavour (two workers for the
    /// multi-thread one).
    pub fn build(self, builder: Builder) -> Runner {
        match self {
            Flavor::CurrentThread => builder.build(),
            Flavor::MultiThread => builder
                .runtime(|| {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                })
                .build(),
        }
    }
}

/// An ordered log of what tasks did, shared by them.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }

    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Pushes to the log when dropped.
pub struct OnDrop(pub Log, pub &'static str);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}
