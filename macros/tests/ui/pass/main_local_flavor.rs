// tokio's `local` flavour: a runner loop already is a `LocalSet`.
#[runner::main(flavor = "local")]
async fn main() {
    let rc = std::rc::Rc::new(1);
    let task = tokio::task::spawn_local(async move { *rc });
    assert_eq!(task.await.unwrap(), 1);
}
