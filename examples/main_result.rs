//! `#[runner::main]` on `async fn main() -> Result<(), E>`: `Ok` exits 0,
//! `Err(e)` prints `Error: {e:?}` and exits 1, as a plain `main` does.
//!
//! ```text
//! cargo run --example main_result -- 42     # exits 0
//! cargo run --example main_result -- forty  # exits 1
//! ```

#[runner::main]
async fn main() -> Result<(), std::num::ParseIntError> {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let n: u32 = arg.parse()?;
    tokio::task::yield_now().await;
    println!("{n}");
    Ok(())
}
