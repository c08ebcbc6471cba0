//! Ctrl-C (SIGINT) and SIGTERM with real signals: the protocol in the `runner`
//! crate docs and `DESIGN.md` ("The Ctrl-C state machine").
//!
//! Signal handling belongs to a process's main thread, so every scenario runs
//! in a child process: this binary re-executes itself with
//! `RUNNER_SIGINT_SCENARIO` naming the scenario, the child runs it on its main
//! thread and prints markers on stdout, and the parent follows the
//! scenario's script (wait for a marker, pause, send a signal), then checks
//! the markers' order and how the child ended. Each scenario runs `REPS`
//! times, the signal sent at a different point each time (the pause after a
//! marker grows with the repetition), every child under a hard deadline.
//!
//! `cargo test --test sigint [FILTER]` runs the scenarios whose name
//! contains `FILTER`; `-- --list` lists them.
//!
//! Unix only: sending a real Ctrl-C to a child process needs `kill(2)`; on
//! Windows the backend is type-checked by `.ci/run`, and this binary says it
//! ran nothing.

#[cfg(unix)]
mod unix;

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    println!("sigint: real-signal scenarios run on Unix only");
    println!("0 passed, 0 failed");
}
