//! What `#[runner::main]` and `#[runner::test]` were given, and how it
//! becomes a [`Runner`].
//!
//! The attribute's table of arguments (runner-macros' `config.rs`) says
//! where each argument goes: a field of [`Args`], a call on Tokio's runtime
//! builder, or a call on [`Builder`]. The generated code writes the two
//! calls as the non-capturing closures [`Args::runtime`] and
//! [`Args::runner`], so no argument needs code of its own here.

use std::time::Duration;

use crate::{Builder, Runner};

/// Tokio's runtime builder, named by the code the attributes generate
/// (never through the user's own `tokio`).
pub use tokio::runtime::Builder as RuntimeBuilder;

/// The runtime flavour, as `#[tokio::main]` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// One thread: the one that calls `run` (also tokio's `"local"`).
    CurrentThread,
    /// Tokio's worker pool under the loop; the main task stays on the caller.
    MultiThread,
}

/// What `#[runner::main]` and `#[runner::test]` were given; the generated
/// code writes only the fields it sets, the rest come from
/// [`Args::DEFAULT`].
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// Which Tokio runtime runs under the loop; `None`: current-thread.
    pub flavor: Option<Flavor>,
    /// The test watchdog's limit, on the real clock; `None`: no limit.
    pub timeout: Option<Duration>,
    /// The arguments that are settings of Tokio's runtime builder
    /// (`worker_threads`, `name`, `start_paused`), applied after
    /// `enable_all`.
    pub runtime: fn(&mut RuntimeBuilder),
    /// The arguments that are settings of [`Builder`] (`debug`,
    /// `shutdown_timeout`, `unhandled_panic`, ...).
    pub runner: fn(Builder) -> Builder,
}

impl Args {
    /// Nothing given: the defaults of Tokio's and of [`Builder`].
    pub const DEFAULT: Args = Args {
        flavor: None,
        timeout: None,
        runtime: no_runtime_settings,
        runner: no_runner_settings,
    };

    /// The runner these arguments describe (not started yet).
    pub(super) fn runner(&self) -> Runner {
        let flavor = self.flavor.unwrap_or(Flavor::CurrentThread);
        let mut runtime = match flavor {
            Flavor::CurrentThread => RuntimeBuilder::new_current_thread(),
            Flavor::MultiThread => RuntimeBuilder::new_multi_thread(),
        };
        runtime.enable_all();
        (self.runtime)(&mut runtime);
        let builder = (self.runner)(Builder::new());
        builder.runtime(move || runtime.build()).build()
    }
}

fn no_runtime_settings(_: &mut RuntimeBuilder) {}

fn no_runner_settings(builder: Builder) -> Builder {
    builder
}

/// Makes `start_paused = true` without Tokio's `test-util` feature a clear
/// compile error. The generated code calls `runtime.start_paused(true)` with
/// this trait in scope: Tokio's inherent method wins when it exists; when it
/// does not, this method is chosen and `bool: NeedsTokioTestUtil` fails with
/// the message below, at the argument's span.
pub trait StartPausedFallback {
    /// Never callable: no type implements [`NeedsTokioTestUtil`].
    fn start_paused<P: NeedsTokioTestUtil>(&mut self, on: P) -> &mut Self;
}

impl StartPausedFallback for RuntimeBuilder {
    fn start_paused<P: NeedsTokioTestUtil>(&mut self, _: P) -> &mut Self {
        self
    }
}

/// Implemented by nothing; see [`StartPausedFallback`].
#[diagnostic::on_unimplemented(
    message = "`start_paused = true` needs Tokio's `test-util` feature",
    label = "Tokio's clock can only be paused with its `test-util` feature",
    note = "add `tokio = {{ version = \"1\", features = [\"test-util\"] }}` to your \
            `[dev-dependencies]` (or `[dependencies]`), as `#[tokio::test(start_paused = true)]` needs too"
)]
pub trait NeedsTokioTestUtil {}
