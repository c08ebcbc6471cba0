//! `#[runner::main]` on `async fn main()`: exits 0. With the argument `wait`
//! it prints `ready` and waits until Ctrl-C, which cancels it (its `Drop`
//! cleanup runs and prints `cleaned up`), then cancels the task it left
//! running (which prints `leftover cleaned up`), and ends the process with
//! status 130.
//!
//! ```text
//! cargo run --example main_unit -- wait
//! ```

struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

#[runner::main]
async fn main() {
    let _cleanup = Cleanup("cleaned up");
    let wait = std::env::args().nth(1).as_deref() == Some("wait");
    if wait {
        runner::spawn_local(async {
            let _cleanup = Cleanup("leftover cleaned up");
            std::future::pending::<()>().await
        });
    }
    tokio::task::yield_now().await;
    println!("ready");
    if wait {
        std::future::pending::<()>().await;
    }
}
