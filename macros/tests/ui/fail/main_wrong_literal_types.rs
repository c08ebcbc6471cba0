#[runner::main(debug = "yes")]
async fn a() {}

#[runner::main(handle_sigint = 1)]
async fn b() {}

#[runner::main(flavor = multi_thread)]
async fn c() {}

#[runner::main(flavor = "multi_thread", worker_threads = "4")]
async fn d() {}

#[runner::main(name = 7)]
async fn e() {}

#[runner::main(crate = "not a path")]
async fn f() {}

#[runner::main(name = "")]
async fn g() {}

fn main() {}
