//! A request id that follows the work into every task it spawns: spawned
//! tasks, blocking work, and nested spawns each start with a copy of their
//! spawner's context, so log lines carry the right id without passing it
//! around.
//!
//! ```text
//! cargo run --example context_vars
//! ```

use std::time::Duration;

use runner::ContextVar;

static REQUEST_ID: ContextVar<u32> = ContextVar::new("request_id");

/// A log line tagged with the current request id.
fn log(message: &str) {
    match REQUEST_ID.get() {
        Some(id) => println!("[request {id}] {message}"),
        None => println!("[no request] {message}"),
    }
}

async fn handle(id: u32) {
    REQUEST_ID.set(id);
    log("started");
    // A spawned task inherits the id...
    let lookup = runner::spawn(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        log("database lookup done");
    });
    // ...and so does blocking work on the thread pool.
    let hashing = runner::spawn_blocking(|| log("hashed the password"));
    lookup.await.unwrap();
    hashing.await.unwrap();
    log("finished");
}

fn main() -> Result<(), runner::Error> {
    runner::run(async {
        // Three requests served concurrently: each task has its own copy,
        // so their ids never mix.
        let requests: Vec<_> = (1..=3).map(|id| runner::spawn(handle(id))).collect();
        for request in requests {
            request.await.unwrap();
        }
        // The parent never set an id: the children's sets stayed theirs.
        log("all requests served");
    })
}
