#[runner::main(worker_count = 4)]
async fn main() {}
