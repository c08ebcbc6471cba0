#[runner::test(worker_threads = 2)]
async fn one_thread() {}

#[runner::test(flavor = "multi_thread", start_paused = true)]
async fn paused_pool() {}

fn main() {}
