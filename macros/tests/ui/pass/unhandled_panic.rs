// Tokio's `unhandled_panic`, in both attributes, with any flavour, and
// without `tokio_unstable`.
#[runner::main(unhandled_panic = "shutdown_runtime")]
async fn main() {
    let task = runner::spawn(async { 1 });
    assert_eq!(task.await.unwrap(), 1);
}

#[runner::main(flavor = "multi_thread", unhandled_panic = "ignore")]
async fn helper() {}

#[runner::test(unhandled_panic = "ignore")]
async fn ignores() {}

#[runner::test(flavor = "multi_thread", unhandled_panic = "shutdown_runtime")]
async fn shuts_down() {}
