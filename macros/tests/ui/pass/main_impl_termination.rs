#[runner::main]
async fn main() -> impl std::process::Termination {
    Ok::<(), String>(())
}
