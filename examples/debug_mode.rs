//! Debug mode's reports, printed by `tracing-subscriber`'s formatter: a slow
//! poll, a panic nobody retrieved, and a task left pending at close. Each
//! names the task and the line that spawned it.
//!
//! ```text
//! cargo run --example debug_mode
//! ```
//!
//! `RUNNER_DEBUG=1` turns the same reports on for any program, without
//! `Builder::debug`.

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Reports are `tracing` events under the `runner` target.
    tracing_subscriber::fmt().with_target(true).init();

    let mut runner = runner::Runner::builder().debug(true).build();
    runner.run(async {
        // A poll that blocks the thread for longer than the slow-poll
        // threshold (100 ms): WARN "slow poll: task `resize` ...".
        let resize = runner::task::Builder::new().name("resize");
        let blocking = resize.spawn(async { std::thread::sleep(Duration::from_millis(150)) })?;
        blocking.await?;

        // A panic in a task whose handle was dropped: ERROR "... nobody
        // retrieved the panic ...". Reported with debug mode off too.
        drop(runner::spawn(async { panic!("the cache was empty") }));
        tokio::time::sleep(Duration::from_millis(10)).await;

        // A task still pending when the runner closes: WARN "... still
        // pending when the runner closed ...".
        let ticker = runner::task::Builder::new().name("ticker");
        ticker.spawn_local(std::future::pending::<()>())?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    runner.close();
    Ok(())
}
