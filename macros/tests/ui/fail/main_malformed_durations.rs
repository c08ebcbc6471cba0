#[runner::main(shutdown_timeout = "5")]
async fn no_unit() {}

#[runner::main(shutdown_timeout = "5 seconds")]
async fn bad_unit() {}

#[runner::main(interrupt_grace = "1.2.3s")]
async fn bad_number() {}

#[runner::main(interrupt_grace = 5)]
async fn not_a_string() {}

#[runner::main(cancel_grace = "5 minutes")]
async fn bad_cancel_grace() {}

fn main() {}
