//! One `Runner`, many runs: the loop, its tasks and its context survive
//! between them (asyncio's `with asyncio.Runner() as runner:`).
//!
//! ```text
//! cargo run --example multiple_runs
//! ```

use std::time::Duration;

use runner::{ContextVar, Runner};

/// Set in the first run, read in the second: the runner keeps one context.
static GREETING: ContextVar<&str> = ContextVar::with_default("greeting", "hi");

fn main() -> Result<(), runner::Error> {
    let mut runner = Runner::new();

    // Run 1: start a background ticker and set a context variable. The main
    // future may borrow from `main`: here it stores the ticker's handle.
    let mut ticker = None;
    runner.run(async {
        GREETING.set("hello again");
        ticker = Some(runner::spawn_local(async {
            for tick in 1.. {
                println!("tick {tick}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    })?;
    println!("between runs: the ticker is paused, the loop is idle");

    // Run 2: the ticker resumes while this run waits; the variable is seen.
    runner.run(async {
        tokio::time::sleep(Duration::from_millis(350)).await;
        println!("{}", GREETING.get().unwrap_or_default());
        if let Some(ticker) = &ticker {
            ticker.abort();
        }
    })?;

    // Close explicitly (dropping the runner would too): leftovers cancelled.
    runner.close();
    Ok(())
}
