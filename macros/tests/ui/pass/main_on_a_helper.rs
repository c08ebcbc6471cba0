// As `#[tokio::main]`, the attribute also turns a helper into a blocking
// function, arguments included.
#[runner::main]
async fn double(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n * 2
}

fn main() {
    assert_eq!(double(21), 42);
}
