#[runner::test(handle_sigint = false)]
async fn signals() {}

#[runner::test(unhandled_panic = "shutdown_runtime")]
async fn tokio_unstable_option() {}

#[runner::test(debug = false)]
async fn no_debug() {}

fn main() {}
