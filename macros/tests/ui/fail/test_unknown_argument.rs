#[runner::test(handle_sigint = false)]
async fn signals() {}

#[runner::test(core_threads = 2)]
async fn renamed() {}

#[runner::test(debug = false)]
async fn no_debug() {}

fn main() {}
