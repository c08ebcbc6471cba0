#[runner::test]
async fn takes(x: u8) {
    let _ = x;
}

fn main() {}
