//! `#[runner::main]` on `async fn main() -> impl Termination`: whatever the
//! body returns reports the exit status (here a `Result` that fails when
//! the argument is `fail`).
//!
//! ```text
//! cargo run --example main_impl_termination -- fail  # exits 1
//! ```

use std::process::Termination;

#[runner::main]
async fn main() -> impl Termination {
    tokio::task::yield_now().await;
    match std::env::args().nth(1).as_deref() {
        Some("fail") => Err("asked to fail"),
        _ => Ok(()),
    }
}
