//! A custom runtime through the factory (asyncio's `loop_factory`): here a
//! multi-thread runtime, so `runner::spawn` tasks run on worker threads while
//! the main task and `spawn_local` tasks stay on the calling thread.
//!
//! ```text
//! cargo run --example custom_runtime
//! ```

use std::time::Duration;

use runner::Runner;

fn main() -> Result<(), runner::Error> {
    let mut runner = Runner::builder()
        .runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("worker")
                .enable_all()
                .build()
        })
        .shutdown_timeout(Duration::from_secs(5))
        .build();

    runner.run(async {
        let on_workers: Vec<_> = (0..4)
            .map(|i| {
                runner::spawn(async move {
                    let thread = std::thread::current();
                    format!("task {i} on thread {:?}", thread.name().unwrap_or("?"))
                })
            })
            .collect();
        for task in on_workers {
            println!("{}", task.await.unwrap());
        }
        let main_thread = std::thread::current();
        println!(
            "main task on thread {:?}",
            main_thread.name().unwrap_or("?")
        );
    })
}
