//! "Why is it stuck?": a task dump of a few named tasks, one of which lost
//! its waker and can never run again.
//!
//! ```text
//! cargo run --example stuck
//! ```
//!
//! Prints the lost-waker warning as it happens, then the dump: each task
//! with its id, spawn site, and whether it is being polled or idle (and for
//! how long), indented under the task that spawned it.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use runner::task::Builder;
use tokio::sync::Notify;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_target(false).init();
    let mut runner = runner::Runner::builder().debug(true).build();
    runner.run(async {
        let shutdown = Arc::new(Notify::new());
        let (for_server, for_handler) = (shutdown.clone(), shutdown.clone());
        let server = Builder::new().name("server").spawn_local(async move {
            // One handler per connection; this one waits for the shutdown.
            let handler = async move { for_handler.notified().await };
            let handler = Builder::new().name("handler").spawn_local(handler);
            for_server.notified().await;
            handler.unwrap().await.unwrap();
        })?;
        // A future that returns Pending without keeping `cx.waker()`:
        // nothing can ever wake this task again.
        let stuck = Builder::new()
            .name("stuck")
            .spawn_local(poll_fn(|_| Poll::<()>::Pending))?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("{}", runner::task::dump());
        shutdown.notify_waiters();
        server.await?;
        stuck.abort();
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    Ok(())
}
