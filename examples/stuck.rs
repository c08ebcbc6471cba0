//! "Why is it stuck?": debug mode naming what holds a program up, as it
//! happens, then a task dump of a few named tasks.
//!
//! ```text
//! cargo run --example stuck
//! ```
//!
//! Prints, as they happen: a blocking call inside async code, named while it
//! still blocks (and again after it returned); two tasks that await each
//! other's handles, a deadlock; a task that lost its waker. Then the dump:
//! each task with its id, spawn site, whether it is being polled, idle, or
//! blocking work running on the blocking pool (and for how long), and what
//! it awaits, indented under the task that spawned it. On Unix, Ctrl-\
//! (SIGQUIT) prints the same dump while the program runs.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use runner::JoinHandle;
use runner::task::Builder;
use tokio::sync::{Notify, oneshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_target(false).init();
    let mut runner = runner::Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(50))
        .build();
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
        // Two tasks, each awaiting the other's handle: neither can finish.
        let (ping, to_ping) = awaits_what_it_is_sent("ping");
        let (pong, to_pong) = awaits_what_it_is_sent("pong");
        let deadlocked = [ping.cancel_handle(), pong.cancel_handle()];
        let _ = to_ping.send(pong);
        let _ = to_pong.send(ping);
        // Blocking work where it belongs: on the blocking pool.
        let (finish_copy, copying) = std::sync::mpsc::channel::<()>();
        let copy = Builder::new()
            .name("copy")
            .spawn_blocking(move || copying.recv())?;
        // A blocking call inside async code: it holds the loop's thread.
        Builder::new()
            .name("blocking-call")
            .spawn_local(async { std::thread::sleep(Duration::from_millis(200)) })?
            .await?;
        println!("{}", runner::task::dump());
        shutdown.notify_waiters();
        server.await?;
        stuck.abort();
        deadlocked.iter().for_each(|task| task.cancel());
        finish_copy.send(())?;
        copy.await??;
        // The cancelled tasks are dropped at the loop's next turn.
        tokio::task::yield_now().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    Ok(())
}

/// A task that awaits the handle it is sent, spawned at the caller's line.
#[track_caller]
fn awaits_what_it_is_sent(name: &str) -> (JoinHandle<()>, oneshot::Sender<JoinHandle<()>>) {
    let (tx, rx) = oneshot::channel::<JoinHandle<()>>();
    let task = Builder::new().name(name).spawn_local(async move {
        if let Ok(other) = rx.await {
            let _ = other.await;
        }
    });
    (task.expect("spawn_local in a runner"), tx)
}
