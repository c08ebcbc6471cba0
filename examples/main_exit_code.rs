//! `#[runner::main]` on `async fn main() -> ExitCode`: the code is the
//! process's exit status (here the first argument, default 0).
//!
//! ```text
//! cargo run --example main_exit_code -- 3   # exits 3
//! ```

use std::process::ExitCode;

#[runner::main]
async fn main() -> ExitCode {
    let code: u8 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    tokio::task::yield_now().await;
    ExitCode::from(code)
}
