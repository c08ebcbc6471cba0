#[runner::main]
async fn main() -> Result<(), ()> {
    Ok(1)
}
