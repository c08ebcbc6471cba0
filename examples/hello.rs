//! The asyncio docs' first example: sleep one second, then print hello.
//!
//! ```text
//! cargo run --example hello
//! ```

use std::time::Duration;

fn main() -> Result<(), runner::Error> {
    runner::run(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("hello");
    })
}
