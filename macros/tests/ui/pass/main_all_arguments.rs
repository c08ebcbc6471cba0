// Every argument of `#[runner::main]` at once.
#[runner::main(
    flavor = "current_thread",
    start_paused = true,
    name = "svc",
    debug = true,
    shutdown_timeout = "5s",
    cancel_grace = "2s",
    interrupt_grace = "1.5s",
    handle_sigint = false,
    handle_sigterm = true,
    unhandled_panic = "shutdown_runtime",
    crate = "runner"
)]
async fn main() {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
}
