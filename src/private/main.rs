//! The body of `#[runner::main]`.

use std::future::Future;

use super::Args;
use crate::Error;

/// Runs `body` as the main task of a runner built from `args` and returns
/// its output: `asyncio.run(main())`.
///
/// # Panics
///
/// On any runner error but Ctrl-C (`Error::Interrupted`), which exits with
/// status 130 after the runner closed.
#[track_caller]
pub fn main<F: Future>(args: Args, body: F) -> F::Output {
    let mut runner = args.runner();
    let result = runner.run(body);
    // Closed before a possible `exit`, which would skip it: leftover tasks
    // are cancelled and their cleanup runs on Ctrl-C too.
    runner.close();
    match result {
        Ok(output) => output,
        Err(Error::Interrupted) => std::process::exit(130),
        Err(err) => panic!("#[runner::main]: {err}"),
    }
}
