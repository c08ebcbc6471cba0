//! Testing async code with `#[runner::test]`: each test gets a fresh runner in
//! debug mode, a real-clock `timeout` that also catches a body that blocks its
//! thread, and fails when a spawned task panicked and nobody looked.
//!
//! ```text
//! cargo run --example testing      # runs the code under test once
//! cargo test --example testing     # runs the tests below
//! ```

use std::time::Duration;

use runner::ContextVar;

static TENANT: ContextVar<&str> = ContextVar::with_default("tenant", "anonymous");

/// The code under test: fans out to workers that inherit the tenant.
async fn fetch_all(ids: &[u32]) -> Vec<String> {
    let workers: Vec<_> = ids
        .iter()
        .map(|&id| {
            runner::spawn(async move {
                tokio::time::sleep(Duration::from_millis(u64::from(id))).await;
                format!("{}/{id}", TENANT.get().unwrap_or_default())
            })
        })
        .collect();
    let mut out = Vec::new();
    for worker in workers {
        out.push(worker.await.expect("worker panicked"));
    }
    out
}

#[runner::main]
async fn main() {
    TENANT.set("acme");
    println!("{:?}", fetch_all(&[3, 1, 2]).await);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fails after 5 s of real time, even if the body blocks or time is paused.
    #[runner::test(timeout = "5s")]
    async fn workers_inherit_the_tenant() {
        TENANT.set("acme");
        assert_eq!(fetch_all(&[2, 1]).await, ["acme/2", "acme/1"]);
    }

    // Each test has its own runner and context: nothing leaks between tests.
    #[runner::test]
    async fn without_a_tenant_the_default_is_used() {
        assert_eq!(fetch_all(&[1]).await, ["anonymous/1"]);
    }

    // Tokio's arguments work: paused time makes a long sleep instant.
    #[runner::test(start_paused = true, timeout = "1s")]
    async fn long_delays_take_no_real_time() {
        assert_eq!(fetch_all(&[60_000]).await, ["anonymous/60000"]);
    }
}
