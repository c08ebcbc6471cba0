#[runner::test(timeout = "0s")]
async fn zero() {}

#[runner::test(timeout = "5 min")]
async fn words() {}

#[runner::test(timeout = 5)]
async fn integer() {}

#[runner::test(timeout = "1.5ns")]
async fn fraction_of_a_nanosecond() {}

fn main() {}
