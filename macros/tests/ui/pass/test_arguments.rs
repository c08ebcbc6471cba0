#[runner::test]
async fn plain() {}

#[runner::test(flavor = "multi_thread", worker_threads = 2, name = "pool", timeout = "5s")]
async fn multi_thread() {}

#[runner::test(flavor = "current_thread", start_paused = true, timeout = "250ms")]
async fn paused() {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
}

#[runner::test(shutdown_timeout = "1m", crate = "::runner")]
async fn shutdown() {}

#[runner::test(cancel_grace = "100ms")]
async fn cancel_grace() {
    runner::spawn(async { runner::task::cancelled().await });
}

#[runner::test]
async fn returns_result() -> Result<(), Box<dyn std::error::Error>> {
    let rc = std::rc::Rc::new(());
    tokio::task::yield_now().await;
    drop(rc);
    Ok(())
}

fn main() {}
