// `crate = "..."` when runner is reached through another path.
mod reexport {
    pub use runner as rt;
}

#[runner::main(crate = "reexport::rt")]
async fn main() {}
