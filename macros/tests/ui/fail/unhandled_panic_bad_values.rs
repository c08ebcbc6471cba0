#[runner::main(unhandled_panic = "abort")]
async fn unknown_behavior() {}

#[runner::test(unhandled_panic = "Ignore")]
async fn wrong_case() {}

#[runner::main(unhandled_panic = true)]
async fn not_a_string() {}

#[runner::test(unhandled_panic = "ignore", unhandled_panic = "shutdown_runtime")]
async fn twice() {}

#[runner::main(unhandled_panic)]
async fn without_value() {}

fn main() {}
