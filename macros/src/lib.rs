//! `#[runner::main]` and `#[runner::test]`: drop-in replacements for
//! `#[tokio::main]` and `#[tokio::test]` that run the body with
//! [`runner`](https://docs.rs/asyncio-runner)'s asyncio rules (the package
//! `asyncio-runner`, whose library is `runner`).
//!
//! Use them through the `runner` crate (`#[runner::main]`,
//! `#[runner::test]`); this crate is an implementation detail.
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]
#![forbid(unsafe_code)]

mod config;
mod expand;
mod values;

use config::Kind;
use proc_macro::TokenStream;

/// Runs `async fn main` as the main task of a fresh runner: `asyncio.run(main())`.
///
/// Change `#[tokio::main]` to `#[runner::main]` and the program keeps
/// working (`tokio::spawn`, `select!`, timers, I/O, `spawn_local`), now with
/// one loop per thread, context variables, and Ctrl-C that cancels the main
/// task (its `Drop` cleanup runs) and ends the process with exit status 130.
///
/// ```
/// #[runner::main]
/// async fn main() {
///     let task = tokio::spawn(async { 6 * 7 });
///     println!("{}", task.await.unwrap());
/// }
/// ```
///
/// # Return types
///
/// `()`, `Result<(), E>` with `E: Debug`, [`std::process::ExitCode`], and
/// `impl Termination` keep the meaning they have on a plain `fn main`.
///
/// ```
/// #[runner::main]
/// async fn main() -> Result<(), std::num::ParseIntError> {
///     let n: u32 = "42".parse()?;
///     assert_eq!(n, 42);
///     Ok(())
/// }
/// ```
///
/// # Arguments
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `flavor = "current_thread"` / `"multi_thread"` | `"current_thread"` | the Tokio runtime under the loop (`"local"` is accepted as `"current_thread"`); the main task always runs on the main thread |
/// | `worker_threads = 4` | Tokio's (one per core) | only with `flavor = "multi_thread"` |
/// | `start_paused = true` | `false` | start with Tokio's clock paused (needs Tokio's `test-util` feature; `current_thread` only) |
/// | `crate = "path"` | `"::runner"` | where to find `runner` when it is renamed or re-exported |
/// | `name = "svc"` | none | the runtime's name (Tokio's `Builder::name`) |
/// | `debug = true` | `RUNNER_DEBUG` | [debug mode](https://docs.rs/asyncio-runner/latest/runner/struct.Builder.html#method.debug) (`Builder::debug`) |
/// | `shutdown_timeout = "5s"` | `"300s"` | how long closing waits for blocking work (`Builder::shutdown_timeout`) |
/// | `cancel_grace = "5s"` | `"30s"` | how long a task that listens for cancellation may clean up after it was asked to cancel, at close or by Ctrl-C (`Builder::cancel_grace`) |
/// | `interrupt_grace = "2s"` | `"0s"` | how long the main task may finish on its own after Ctrl-C (`Builder::interrupt_grace`) |
/// | `handle_sigint = false` | `true` | leave Ctrl-C alone (`Builder::handle_sigint`) |
/// | `handle_sigterm = true` | `false` | treat SIGTERM as Ctrl-C (`Builder::handle_sigterm`) |
/// | `unhandled_panic = "shutdown_runtime"` / `"ignore"` | `"ignore"` | what a task panic that nobody can retrieve any more does: `"ignore"` reports it and goes on (`LostPanic::Report`), `"shutdown_runtime"` also cancels the main task (`LostPanic::CancelMain`); Tokio's name, without Tokio's need for `tokio_unstable`, and with any flavour |
///
/// Unlike `#[tokio::main]`, whose default is `multi_thread`, the default
/// flavour is `current_thread`: one loop on one thread, as `asyncio.run`.
/// Code that relies on Tokio's worker pool (CPU-heavy `tokio::spawn`ed work
/// running in parallel) keeps that with `flavor = "multi_thread"`.
///
/// Durations are strings: a number (decimals allowed) and one of the units
/// `ns`, `us`, `ms`, `s`, `m`, `h` (`"250ms"`, `"1.5s"`, `"1m"`).
///
/// ```
/// #[runner::main(flavor = "multi_thread", worker_threads = 2, shutdown_timeout = "5s")]
/// async fn main() {
///     let on_worker = tokio::spawn(async { tokio::runtime::worker_index() });
///     assert!(on_worker.await.unwrap().is_some());
/// }
/// ```
///
/// # What it expands to
///
/// The body becomes a future that `runner::__private::main` (hidden, not
/// public API) runs with the
/// given settings; it returns the body's value, exits with status 130 when
/// Ctrl-C cancelled the main task, and panics on any other runner error
/// (a runtime that could not be built, or a `main` called from inside a
/// running loop).
///
/// Each argument becomes a field of `Args` or a call on Tokio's runtime
/// builder or on [`runner::Builder`], in a closure without captures; shown
/// without the lints it allows and the check of the body's type:
///
/// ```no_run
/// // #[runner::main(shutdown_timeout = "5s")]
/// // async fn main() -> Result<(), std::io::Error> { Ok(()) }
/// fn main() -> Result<(), std::io::Error> {
///     let body = async { Ok(()) };
///     return ::runner::__private::main(
///         ::runner::__private::Args {
///             runner: |runner: ::runner::Builder| {
///                 runner.shutdown_timeout(::core::time::Duration::from_nanos(5000000000u64))
///             },
///             ..::runner::__private::Args::DEFAULT
///         },
///         body,
///     );
/// }
/// ```
///
/// [`runner::Builder`]: https://docs.rs/asyncio-runner/latest/runner/struct.Builder.html
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::entry(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh runner: drop-in for `#[tokio::test]`,
/// plus what Tokio's attribute never had.
///
/// ```
/// #[runner::test]
/// async fn sleeps() {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// Each test gets its own runner in [debug mode](https://docs.rs/asyncio-runner/latest/runner/struct.Builder.html#method.debug),
/// without Ctrl-C handling, on a thread of its own (named after the test).
/// On top of `#[tokio::test]`:
///
/// - `timeout = "5s"` (or `"250ms"`, `"1m"`): a watchdog on the real clock
///   fails the test with "test timed out after 5s" if the body has not
///   finished by then, even when the body blocks its thread or Tokio's
///   clock is paused. A body stuck at an await point is then cancelled there
///   (its `Drop` cleanup runs, its runner closes); one that blocks its thread
///   cannot be stopped safely, so its thread is left behind and dies with the
///   test process. No timeout by default.
/// - A runner task (spawned with `runner::spawn`, `spawn_local`,
///   `spawn_blocking`, or `runner::task::Builder`) whose panic nobody can
///   retrieve any more (its `JoinHandle` was dropped unread) fails the test.
///   By default (`unhandled_panic = "shutdown_runtime"`) it fails at once:
///   the body is cancelled at its await point, and the failure names the
///   task, its spawn site and the panic message. With
///   `unhandled_panic = "ignore"` the panic is only reported and the body
///   goes on; the test then fails after the body returns.
/// - By default too, a body that loses its waker (it returned `Pending`,
///   was not woken, and kept no waker, so it can never run again) fails the
///   test at once, naming the test's line; with `unhandled_panic = "ignore"`
///   it is only reported, and the body waits for the `timeout`, if any. A
///   spawned task's lost waker is reported (a WARN naming the task), not
///   fatal: a task parked on `std::future::pending()` until the test
///   cancels it is a common and correct idiom.
/// - Runner tasks still pending when the body returns are cancelled (as at
///   any close: those that listen for cancellation may clean up within the
///   `cancel_grace`) and listed on stderr with their names and spawn sites. They
///   do not fail the test: a server task that runs until the test ends is a
///   common and correct pattern (see tokio issues 2699 and 4412).
///
/// # Arguments
///
/// The arguments of `#[tokio::test]` (`flavor`, `worker_threads`,
/// `start_paused`, `crate`, `name`, `unhandled_panic`) mean what they mean
/// for [`macro@main`]; `timeout` is new. Tests always run in debug mode and
/// never handle signals, so `debug`, `interrupt_grace` and the `handle_*`
/// arguments are rejected.
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `flavor = "current_thread"` / `"multi_thread"` | `"current_thread"` | as `#[tokio::test]`'s default |
/// | `worker_threads = 4` | Tokio's (one per core) | only with `flavor = "multi_thread"` |
/// | `start_paused = true` | `false` | start with Tokio's clock paused (needs Tokio's `test-util` feature) |
/// | `crate = "path"` | `"::runner"` | where to find `runner` |
/// | `name = "svc"` | none | the runtime's name |
/// | `timeout = "5s"` | none | the real-clock watchdog above |
/// | `shutdown_timeout = "5s"` | `"300s"` | how long closing waits for blocking work |
/// | `cancel_grace = "5s"` | `"30s"` | how long a task that listens for cancellation may clean up after it was asked to cancel, when the test's body ends |
/// | `unhandled_panic = "ignore"` / `"shutdown_runtime"` | `"shutdown_runtime"` | a test whose background task panicked and nobody can retrieve the panic fails at once (`LostPanic::CancelMain`); `"ignore"` only reports it and lets the body go on (the test still fails after the body returns) |
///
/// ```
/// #[runner::test(start_paused = true, timeout = "5s")]
/// async fn an_hour_passes_at_once() {
///     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
/// }
/// ```
///
/// It stacks with other attributes as `#[tokio::test]` does: it appends
/// `#[test]` after the function's other attributes, and rejects a function
/// that already has one.
///
/// # What it expands to
///
/// The body is boxed behind a function pointer, so the future is created on
/// the watchdog's worker thread (it need not be `Send`) and every test shares
/// one instantiation of the runner. A test whose body returns a value (a
/// `Result`) returns the [`std::process::ExitCode`] the value reports
/// (the value itself need not be `Send`): `Err(e)` prints `Error: {e:?}` and
/// fails the test, as for a plain `#[test]`.
///
/// The settings every test gets come from the same table as the arguments
/// and are written out (`debug`, the signals, `unhandled_panic`):
///
/// ```no_run
/// // #[runner::test(timeout = "5s")]
/// // async fn works() { assert!(true) }
/// #[test]
/// fn works() {
///     // `TestBody<T>` is `fn() -> Pin<Box<dyn Future<Output = T>>>`.
///     let body: ::runner::__private::TestBody<()> = || Box::pin(async { assert!(true) });
///     let _: ::std::process::ExitCode = ::runner::__private::test(
///         ::runner::__private::Args {
///             timeout: ::core::option::Option::Some(
///                 ::core::time::Duration::from_nanos(5000000000u64),
///             ),
///             runner: |runner: ::runner::Builder| {
///                 runner
///                     .debug(true)
///                     .handle_sigint(false)
///                     .handle_sigterm(false)
///                     .lost_panic(::runner::LostPanic::CancelMain)
///             },
///             ..::runner::__private::Args::DEFAULT
///         },
///         body,
///     );
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::entry(Kind::Test, args.into(), item.into()).into()
}

#[cfg(test)]
mod tests {
    /// The docs are shown on docs.rs under the package's name,
    /// `asyncio-runner`; `docs.rs/runner` is an unrelated crate.
    #[test]
    fn doc_links_point_at_the_asyncio_runner_package() {
        let lib = include_str!("lib.rs");
        let links: Vec<&str> = lib
            .match_indices("https://docs.rs/")
            .map(|(at, _)| {
                let rest = &lib[at..];
                &rest[..rest.find([')', ' ', '\n', '"']).unwrap_or(rest.len())]
            })
            .filter(|link| !link.ends_with("docs.rs/"))
            .collect();
        assert!(!links.is_empty());
        for link in links {
            let package = link["https://docs.rs/".len()..].split('/').next();
            assert_eq!(package, Some("asyncio-runner"), "{link}");
        }
    }
}
