#[runner::main(flavor = "threaded")]
async fn main() {}
