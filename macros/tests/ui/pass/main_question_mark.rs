// `?` and an early `return` keep working inside the body.
#[runner::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: i32 = "7".parse()?;
    if n == 7 {
        return Ok(());
    }
    Err("unreachable".into())
}
