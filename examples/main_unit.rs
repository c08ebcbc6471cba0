//! `#[runner::main]` on `async fn main()`: exits 0. With the argument `wait`
//! it prints `ready` and waits until Ctrl-C, which cancels it (its `Drop`
//! cleanup runs and prints `cleaned up`) and ends the process with status 130.
//!
//! ```text
//! cargo run --example main_unit -- wait
//! ```

struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("cleaned up");
    }
}

#[runner::main]
async fn main() {
    let _cleanup = Cleanup;
    let wait = std::env::args().nth(1).as_deref() == Some("wait");
    tokio::task::yield_now().await;
    println!("ready");
    if wait {
        std::future::pending::<()>().await;
    }
}
