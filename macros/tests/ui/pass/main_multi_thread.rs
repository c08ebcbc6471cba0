#[runner::main(flavor = "multi_thread", worker_threads = 2, name = "pool", shutdown_timeout = "250ms")]
async fn main() {
    let worker = tokio::spawn(async { tokio::runtime::worker_index() }).await.unwrap();
    assert!(worker.is_some());
}
